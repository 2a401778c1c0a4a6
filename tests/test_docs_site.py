"""The docs site: `mkdocs build --strict` of mkdocs.yml, the spec reference generated from the installed
components, and, in a real headless Chromium (Debian's chromium + chromium-driver), the built site,
served from a loopback port with every other request sent to a dead proxy, finds a protocol's page
through its own search box."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
MISSING = "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver; .ci/run installs them)"

pytest.importorskip("mkdocs", reason="the docs tools come with the test extra (pip install -e '.[test]')")


def _pages():
    spec = importlib.util.spec_from_file_location("aa_docs_pages", REPO / "scripts" / "docs_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_included_sections_and_links():
    pages = _pages()
    text = "# T\nintro\n## A\nbody [x](docs/lattice.md#y) [c](CONTRIBUTING.md) [e](examples/q.toml) [w](https://w.org)\n### A.1\nsub\n## B\nother\n"
    body = pages.section(text, "A")
    assert body.startswith("body") and "sub" in body and "other" not in body
    assert pages.rewrite_links(body) == ("body [x](lattice.md#y) [c](write-a-cell.md) e [w](https://w.org)\n### A.1\nsub\n")
    assert "[x](../lattice.md#y)" in pages.rewrite_links(body, "api")
    with pytest.raises(ValueError):
        pages.section(text, "missing")
    fenced = "## A\n```\n# a comment, not a heading\n```\nafter\n## B\n"
    assert pages.section(fenced, "A") == "```\n# a comment, not a heading\n```\nafter\n"


def test_every_docs_page_is_markdown_in_the_repository_and_the_generated_ones_are_current():
    """No include markers (what you read in docs/ is the page); the generated pages equal a fresh generation."""
    for page in [*(REPO / "docs").glob("*.md"), *(REPO / "docs" / "api").glob("*.md")]:
        text = page.read_text(encoding="utf-8")
        assert "<!-- aa:" not in text and ":::" not in text, page
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "docs_pages.py"), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    reference = (REPO / "docs" / "spec-reference.md").read_text(encoding="utf-8")
    for section in ("[run]", "[train]", "[callbacks.NAME]"):
        assert f"### `{section}`" in reference, section
    assert "| `budget_s` | `float | None` | `None` |" in reference and "meaning |" in reference


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=REPO,
                       capture_output=True, text=True, timeout=600, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    return out


def test_spec_reference_lists_every_installed_component(site):
    from aa_core.host import PluginHost

    html = (site / "spec-reference.html").read_text()
    host = PluginHost()
    assert not host.load_all()
    for reg in host.all_components():
        assert f"{reg.component.kind}.{reg.component.name}" in html, (reg.component.kind, reg.component.name)
    for name in host.sections():
        assert f"[{name}]" in html
    assert "one of &#39;shared&#39;, &#39;depthwise&#39;" in html or "one of 'shared', 'depthwise'" in html  # gmlp's gate_kernel validator


def test_api_reference_is_built_from_docstrings(site):
    html = (site / "api" / "protocols.html").read_text()
    for name in ("Geometry", "LatticeCell", "Propagator", "Decoder", "Dataset", "Objective", "Callback"):
        assert f"<code>{name}</code>" in html, name
    assert "<code>path_field</code>" in (site / "api" / "plugin.html").read_text()
    assert "<code>check_component</code>" in (site / "api" / "conformance.html").read_text()
    assert "<code>fit</code>" in (site / "api" / "run.html").read_text()


@pytest.mark.skipif(not (CHROMIUM and DRIVER) and not os.environ.get("AA_REQUIRE_BROWSER"), reason=MISSING)
def test_site_search_finds_a_protocol_offline(site, tmp_path):
    server = _serve(site)
    assert CHROMIUM and DRIVER, MISSING
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # type: ignore[assignment]
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run",
                "--proxy-server=127.0.0.1:9",  # offline: every request but loopback goes to a dead proxy and fails
                f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=DriverService(executable_path=DRIVER), options=options)
    try:
        driver.set_page_load_timeout(60)
        driver.set_window_size(1400, 1000)  # the desktop layout: the search box sits in the header
        driver.get(server + "/index.html")
        wait = WebDriverWait(driver, 60)
        box = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "input.md-search__input"))
        box.click()
        box.send_keys("LoggedObjective")
        link = wait.until(lambda d: next((a for a in d.find_elements(By.CSS_SELECTOR, ".md-search-result__item a, a.md-search-result__link")
                                          if "api/protocols.html" in (a.get_attribute("href") or "")), None))
        link.click()
        wait.until(lambda d: urllib.parse.urlsplit(d.current_url).path.endswith("/api/protocols.html"))
        assert "aa_core.protocols" in driver.find_element(By.TAG_NAME, "h1").text
        assert driver.find_elements(By.ID, "loggedobjective")  # the heading of the generated page
    finally:
        driver.quit()
        _SERVERS.pop().terminate()


_SERVERS: list[subprocess.Popen] = []


def _serve(folder: Path) -> str:
    """A static web server for ``folder`` on a free loopback port (the search's web worker needs http)."""
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(folder), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _SERVERS.append(proc)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(url + "/index.html", timeout=2).read()
            return url
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the static server did not start")
