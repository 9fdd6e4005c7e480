"""What govcloud asks OpenStack directly, beside the engine: the only importer of openstacksdk."""
