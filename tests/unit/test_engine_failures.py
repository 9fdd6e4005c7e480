"""What govcloud says when the provider or the engine gives up: the provider's own words, which cloud API
failed and how, what to do, never a traceback (engine.events.clean_error, ops.workflow.EngineFailed).

The diagnostics are the engine's real ones, recorded on the dev cloud under the fault proxy
(tests/faults/proxy.py: a reset after Nova's 202, 503 from Cinder, 429 from Nova, 500 from Keystone's
token API while the program looked up a network); the expected texts are written by hand.
"""
from __future__ import annotations

import pytest

from govcloud.engine import events as ev
from govcloud.engine.runner import ErrorKind, OperationResult
from govcloud.ops.workflow import EngineFailed, api_failures, api_service

STACK_URN = "urn:pulumi:x-dev::govcloud-moe::pulumi:pulumi:Stack::govcloud-moe-x-dev"
VOLUME_URN = "urn:pulumi:x-dev::govcloud-moe::openstack:blockstorage/volume:Volume::volume-web-2-data"
TOKEN_500 = ('Expected HTTP response code [201 202] when accessing [POST http://127.0.0.1:42333/v3/auth/tokens], '
             'but got 500 instead: {"error": {"code": 500, "title": "Internal Server Error", "message": '
             '"Internal Server Error (injected-fault #3 on identity)"}}')
RESET = ('Error creating OpenStack server: Post "http://127.0.0.1:39913/v2.1/servers": OpenStack connection error, '
         'retries exhausted. Aborting. Last error was: read tcp 127.0.0.1:49342->127.0.0.1:39913: read: connection '
         'reset by peer')
CINDER_503 = ('Error creating openstack_blockstorage_volume_v3: Expected HTTP response code [202] when accessing '
              '[POST http://127.0.0.1:37791/v3/5cba607c328e40c8a671f6dfa87ad34e/volumes], but got 503 instead: '
              '{"error": {"code": 503, "title": "Service Unavailable"}}')
NOVA_409 = ('Error creating OpenStack server: Expected HTTP response code [200 202] when accessing [POST '
            'http://127.0.0.1:39913/v2.1/servers], but got 409 instead: {"conflictingRequest": {"code": 409, '
            '"message": "Port b3fc586a-fe23-470e-8dbb-659767f7bcfa is still in use."}}')


def diagnostic(message: str, urn: str = "", seq: int = 1) -> dict:
    return {"sequence": seq, "diagnosticEvent": {"urn": urn, "message": message, "severity": "error"}}


def test_a_failed_data_source_call_keeps_the_providers_words_and_drops_the_python_traceback():
    runtime = ("python inline source runtime error: invoke of openstack:networking/getNetwork:getNetwork failed: "
               "invocation of openstack:networking/getNetwork:getNetwork returned an error: invoking "
               "openstack:networking/getNetwork:getNetwork: 1 error occurred:\n\t* Error creating OpenStack "
               f"networking client: {TOKEN_500}\n\n\nTraceback (most recent call last):\n  File \"/work/main/.venv/"
               "lib/python3.11/site-packages/pulumi/automation/_server.py\", line 95, in run\n    "
               "loop.run_until_complete(run_in_stack(self.program))\n")
    calling = ("Exception calling application: invoke of openstack:networking/getNetwork:getNetwork failed: "
               "invocation of openstack:networking/getNetwork:getNetwork returned an error: invoking "
               "openstack:networking/getNetwork:getNetwork: 1 error occurred:\n\t* Error creating OpenStack "
               f"networking client: {TOKEN_500}\n\n\n")
    assert ev.clean_error(runtime) == [f"Error creating OpenStack networking client: {TOKEN_500}"]
    log = ev.EventLog().extend([
        diagnostic(f"  sdk-v2/provider2.go:572: sdk.helper_schema: Error creating OpenStack block storage client: "
                   f"{TOKEN_500}: provider=openstack@5.5.3\n", VOLUME_URN, 1),
        diagnostic(runtime, "", 2), diagnostic(calling, "", 3),
        diagnostic("Resource monitor has terminated, shutting down\n", "", 4),
        diagnostic("update failed\n", STACK_URN, 5)])
    assert log.error_messages() == [
        f"volume-web-2-data: Error creating OpenStack block storage client: {TOKEN_500}",
        f"Error creating OpenStack networking client: {TOKEN_500}"]
    assert not any("Traceback" in m or "Resource monitor" in m for m in log.error_messages())


def failed_up(error: str) -> OperationResult:
    return OperationResult(op="up", stack="govcloud-moe/x-dev", ok=False, error=error, error_kind=ErrorKind.ENGINE,
                           log_file="/state/logs/x--up.log")


@pytest.mark.parametrize("error, api", [
    (f"server-web-2: {RESET}",
     "compute (Nova): the connection was reset (POST http://127.0.0.1:39913/v2.1/servers)"),
    (f"volume-web-2-data: {CINDER_503}",
     "block storage (Cinder) answered 503 Service Unavailable to POST "
     "http://127.0.0.1:37791/v3/5cba607c328e40c8a671f6dfa87ad34e/volumes"),
    ("server-web-2: Expected HTTP response code [200 204 300] when accessing [GET http://127.0.0.1:44739/v2.1/"
     "flavors/detail], but got 429 instead: {}",
     "compute (Nova) answered 429 Too Many Requests to GET http://127.0.0.1:44739/v2.1/flavors/detail"),
    (f"volume-web-2-data: Error creating OpenStack block storage client: {TOKEN_500}",
     "identity (Keystone) answered 500 Internal Server Error to POST http://127.0.0.1:42333/v3/auth/tokens"),
])
def test_a_cloud_failure_names_the_api_and_says_to_run_again(error, api):
    text = str(EngineFailed(failed_up(error)))
    lines = text.splitlines()
    assert lines[0] == "up of govcloud-moe/x-dev failed:" and lines[1] == f"  {error}"
    assert f"  failed API: {api}" in lines
    (todo,) = [ln for ln in lines if ln.startswith("  what to do: ")]
    assert "it did not refuse: run the same command again: govcloud recovers what an interrupted run left" in todo
    assert lines[-1] == "  engine log: /state/logs/x--up.log"


def test_a_refusal_says_to_fix_the_cause_first():
    text = str(EngineFailed(failed_up(f"server-web-2: {NOVA_409}")))
    assert "  failed API: compute (Nova) answered 409 Conflict to POST http://127.0.0.1:39913/v2.1/servers" in text
    assert "  what to do: the cloud refused a request: fix what it says, then run the same command again" in text


def test_a_failure_without_an_api_still_says_what_to_do_and_a_failed_preview_changed_nothing():
    text = str(EngineFailed(failed_up("server-web-1: Unable to find image no-such-image-e2e")))
    assert "failed API" not in text
    assert "  what to do: fix what the message says if it is a mistake, then run the same command again" in text
    preview = OperationResult(op="preview", stack="s", ok=False, error=f"volume-web-2-data: {CINDER_503}")
    assert "nothing was changed; run the same command again" in str(EngineFailed(preview))


def test_apis_are_named_by_their_standard_paths_and_a_repeated_call_is_named_once():
    assert api_service("http://cloud:8774/v2.1/servers/abc/os-volume_attachments") == "compute (Nova)"
    assert api_service("https://cloud/compute/v2.1/flavors/detail") == "compute (Nova)"
    assert api_service("http://cloud:9696/v2.0/security-group-rules") == "network (Neutron)"
    assert api_service("http://cloud:8776/v3/5cba607c328e40c8a671f6dfa87ad34e/attachments") == "block storage (Cinder)"
    assert api_service("http://cloud:8080/v1/AUTH_5cba607c328e40c8a671f6dfa87ad34e/bucket") == "object storage (Swift)"
    assert api_service("https://cloud/identity/v3/auth/tokens") == "identity (Keystone)"
    assert api_service("http://cloud:9292/v2/images?name=x") == "image (Glance)"
    assert api_service("http://cloud:9999/other") == "the API at http://cloud:9999"
    old = 'Resource not found: [GET http://cloud:9696/v2.0/networks/abc], error message: {"NeutronError": {}}'
    assert [f.text for f in api_failures(old)] == [
        "network (Neutron) answered 404 Not Found to GET http://cloud:9696/v2.0/networks/abc"]
    refused = 'Put "http://cloud:8080/v1/AUTH_abc/b": dial tcp 127.0.0.1:8080: connect: connection refused'
    assert [f.text for f in api_failures(f"{refused}\n{refused}")] == [
        "object storage (Swift): the connection was refused (PUT http://cloud:8080/v1/AUTH_abc/b)"]
