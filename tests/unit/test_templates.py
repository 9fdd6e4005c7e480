"""One sandboxed template environment per config repo: HTML escaped, YAML through tojson, overrides win."""
import pytest
from jinja2 import UndefinedError
from jinja2.exceptions import SecurityError

from govcloud.config import ConfigRepo


def repo(tmp_path, files: dict[str, str]) -> ConfigRepo:
    (tmp_path / "govcloud.yaml").write_text("kind: Config\n")
    for rel, text in files.items():
        path = tmp_path / "templates" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return ConfigRepo(tmp_path)


def test_html_templates_are_escaped_and_the_others_write_json(tmp_path):
    t = repo(tmp_path, {"reports/x.html.j2": "<td>{{ name }}</td>", "cloud-init/x.yaml.j2": "name: {{ name | tojson }}\n"
                        "raw: {{ name }}\n"}).templates
    name = '<b>"ok"</b>'
    assert t.render("reports/x.html.j2", name=name) == "<td>&lt;b&gt;&#34;ok&#34;&lt;/b&gt;</td>"
    assert t.render("cloud-init/x.yaml.j2", name=name) == 'name: "<b>\\"ok\\"</b>"\nraw: <b>"ok"</b>\n'


def test_the_config_repo_overrides_the_shipped_templates_and_keeps_the_rest(tmp_path):
    t = repo(tmp_path, {"cloud-init/base.yaml.j2": "#cloud-config\n# ours\n"}).templates
    assert t.render("cloud-init/base.yaml.j2") == "#cloud-config\n# ours\n"
    assert t.get("reports/usage.html.j2").filename.endswith("templates/reports/usage.html.j2")
    assert not t.get("reports/usage.html.j2").filename.startswith(str(tmp_path))


def test_strict_and_sandboxed(tmp_path):
    t = repo(tmp_path, {"a.j2": "{{ typo }}", "b.j2": "{{ x.__class__.__mro__ }}", "c.j2": "{{ l.append(1) }}"}).templates
    with pytest.raises(UndefinedError):
        t.render("a.j2")
    with pytest.raises(SecurityError):  # the sandbox refuses Python internals
        t.render("b.j2", x=1)
    with pytest.raises(SecurityError):  # and refuses to mutate values
        t.render("c.j2", l=[])


def test_compiled_once_per_config_repo(tmp_path):
    config = repo(tmp_path, {})
    assert config.templates is config.templates
    assert config.templates.get("cloud-init/base.yaml.j2") is config.templates.get("cloud-init/base.yaml.j2")
    assert ConfigRepo(None).templates.environment is not config.templates.environment
