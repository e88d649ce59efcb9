"""``wavedil-evaluate-vocoder --html``: the listening report, checked in a real browser
(headless Chromium from the system packages; ``.ci/run`` installs it where missing,
and the browser test skips, saying why, where none can be found)."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from tests.cli.test_vocoder_cli import setup  # noqa: F401  (the tiny vocoder and its clips)
from wavedil.cli.evaluate_vocoder import main as evaluate_main
from wavedil.cli.listening import pick_clips

BROWSERS = ("chromium", "chromium-browser", "google-chrome")

#: loads the report in a frame of the same origin, then probes every audio source and
#: image with the browser's own decoders, and writes what it found into the page
HARNESS = """<!doctype html><html><body><pre id="result">pending</pre>
<iframe id="page" src="index.html"></iframe>
<script>
const frame = document.getElementById("page");
frame.addEventListener("load", async () => {
  const doc = frame.contentDocument;
  const found = {title: doc.title, audio: [], images: [], headings: []};
  for (const h of doc.querySelectorAll("div.player span")) found.headings.push(h.textContent);
  for (const a of doc.querySelectorAll("audio")) {
    found.audio.push(await new Promise(done => {
      const probe = new Audio();
      probe.onloadedmetadata = () => done({src: a.getAttribute("src"), seconds: probe.duration});
      probe.onerror = () => done({src: a.getAttribute("src"), error: probe.error.code});
      probe.src = a.src;
    }));
  }
  for (const img of doc.querySelectorAll("img")) {
    found.images.push(await img.decode().then(
      () => ({src: img.getAttribute("src"), width: img.naturalWidth}),
      () => ({src: img.getAttribute("src"), error: true})));
  }
  document.getElementById("result").textContent = JSON.stringify(found);
  await fetch("/result", {method: "POST", body: JSON.stringify(found)});
});
</script></body></html>
"""


def _browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def _report(setup, out: Path, *more: str) -> int:  # noqa: F811
    return evaluate_main([
        "--checkpoint", str(setup["vocoder"]), str(setup["audio"]), "--out", str(out),
        "--temperature", "0", "--griffin-lim-iters", "4", "--quiet", "--html", *more])


def test_pick_clips_spreads_over_the_inputs():
    assert pick_clips(3, 8) == [0, 1, 2]
    assert pick_clips(10, 3) == [0, 4, 9] or pick_clips(10, 3) == [0, 5, 9]
    assert pick_clips(10, 1) == [0]


def test_the_report_links_a_player_and_a_picture_per_clip_and_refuses_to_overwrite(
        setup, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "report"
    assert _report(setup, out, "--html-clips", "2") == 0
    page = (out / "index.html").read_text()
    clips = sorted(p.name for p in (out / "listen").glob("*.png"))
    assert clips == ["0_ann_1.png", "1_bob_0.png"]  # 2 of the 3 inputs: first and last
    for stem in ("0_ann_1", "1_bob_0"):
        for kind in ("original", "vocoder", "griffin_lim"):
            assert f'src="listen/{stem}_{kind}.wav"' in page
            assert (out / "listen" / f"{stem}_{kind}.wav").stat().st_size > 1000
    assert page.count("<audio") == 6 and "<th>method</th>" in page and "griffin-lim" in page
    assert "1_ann_0" not in page.split("<h2>Listen")[1]  # not picked: no player
    assert "<script" not in page and "http" not in page  # self-contained
    capsys.readouterr()
    assert _report(setup, out, "--html-clips", "2") == 2
    assert "already exist" in capsys.readouterr().err
    assert (out / "index.html").read_text() == page


def test_the_report_plays_and_shows_everything_in_a_real_browser(setup, tmp_path):  # noqa: F811
    browser = _browser()
    if browser is None:
        pytest.skip(f"no headless browser ({', '.join(BROWSERS)}) on PATH; .ci/run installs "
                    "Debian's chromium")
    out = tmp_path / "report"
    assert _report(setup, out) == 0
    (out / "harness.html").write_text(HARNESS)
    results: list[dict] = []
    arrived = threading.Event()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            results.append(json.loads(body))
            self.send_response(204)
            self.end_headers()
            arrived.set()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(out)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/harness.html"
    browser_process = subprocess.Popen(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:  # real time, however loaded the machine: wait for the page to report
        assert arrived.wait(timeout=180), "the page never reported (see the browser's stderr)"
    finally:
        browser_process.kill()
        browser_process.wait()
        server.shutdown()
    found = results[0]
    assert found["title"] == f"Listening report: {Path(setup['vocoder']).name}"
    assert found["headings"] == ["original", "vocoder", "Griffin-Lim"] * 3
    assert len(found["audio"]) == 9 and len(found["images"]) == 3
    for audio in found["audio"]:  # every source exists and decodes, at the clip's length
        assert "error" not in audio and audio["seconds"] > 0.05, audio
    for image in found["images"]:
        assert "error" not in image and image["width"] > 100, image
