"""`dii-hpc ui` over HTTP: the token, read-only methods, paths confined to the store, the API.

One real server (a `dii-hpc ui` subprocess) on one store for the module; requests are raw
(http.client), so paths reach the server exactly as written, ``..`` included.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

import dii_hpc
from dii_hpc.records import monitor
from dii_hpc.store.blobs import blob_path
from dii_hpc.store.store import Store
from tests.conftest import run_cli
from tests.ui.conftest import Server, serving

SECRET = Path("/etc/passwd")


def _build(root: Path, tmp: Path) -> dict[str, Any]:
    store = Store(root)
    ids = []
    for i in range(12):
        params = {"lr": [0.1, 0.01, 0.001][i % 3], "width": 16 * (1 + i % 4)}
        with dii_hpc.start_run("exp", params=params, store=store) as run:
            run.log_metrics({"loss": 1.0 / (1 + i), "acc": i / 12}, step=0)
            ids.append(run.id)
    with dii_hpc.start_run("exp", params={"lr": 0.5}, store=store) as run:
        for step in range(5000):
            run.log_metric("loss", 100.0 if step == 3333 else 1.0 / (1 + step), step=step)
        logs = run.dir / "logs"
        logs.mkdir()
        (logs / "stdout.txt").write_text("".join(f"line {n}\n" for n in range(5000)))
        (logs / "secret.txt").symlink_to(SECRET)
        (tmp / "weights.txt").write_text("weights")
        (tmp / "leak.txt").write_text("to be replaced by a link")
        run.log_artifact(tmp / "weights.txt", name="weights.txt")
        leak = run.log_artifact(tmp / "leak.txt", name="leak.txt")
        long_id = run.id
    blob = blob_path(root, leak)
    blob.unlink()
    blob.symlink_to(SECRET)  # an artifact blob that points out of the store
    store.create_run("exp", kind="audit", status="FINISHED")
    monitor.write(store, monitor.MonitorProfile(name="nightly", created=time.time(), kind="table",
                                                source="ref.csv", n_rows=10), None, {})
    return {"ids": ids, "long": long_id, "leak": leak}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path, dict[str, Any]]]:
    root = tmp_path_factory.mktemp("ui-store") / "store"
    info = _build(root, tmp_path_factory.mktemp("ui-files"))
    with serving(root) as server:
        yield server, root, info


def test_prints_a_loopback_url_with_a_token(served) -> None:
    server, _, _ = served
    assert server.url.startswith(f"http://127.0.0.1:{server.port}/?token=")
    assert len(server.token) >= 32


@pytest.mark.parametrize("path", ["/", "/index.html", "/api/experiments", "/static/app.js",
                                  "/api/experiments/exp/runs", "/_ui/live.js"])
def test_without_the_token_everything_is_refused(served, path: str) -> None:
    server, _, _ = served
    assert server.request("GET", path, token=False)[0] == 403
    assert server.request("GET", f"{path}{'&' if '?' in path else '?'}token=wrong",
                          token=False)[0] == 403
    assert server.request("GET", path, token=False,
                          headers={"Cookie": f"dii-hpc-ui-{server.port}=nope"})[0] == 403


def test_the_token_becomes_a_cookie_and_leaves_the_url(served) -> None:
    server, _, _ = served
    status, headers, _ = server.request("GET", f"/?token={server.token}", token=False,
                                        headers={"Accept": "text/html"})
    assert status == 303 and headers["location"] == "/"
    cookie = headers["set-cookie"].split(";")[0]
    assert "HttpOnly" in headers["set-cookie"] and "SameSite=Strict" in headers["set-cookie"]
    assert server.request("GET", "/api/experiments", token=False,
                          headers={"Cookie": cookie})[0] == 200


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_only_reads(served, method: str) -> None:
    server, root, _ = served
    before = sorted(p.name for p in (root / "experiments" / "exp" / "runs").iterdir())
    assert server.request(method, "/api/experiments")[0] == 405
    assert server.request(method, "/api/experiments", token=False)[0] == 403
    assert sorted(p.name for p in (root / "experiments" / "exp" / "runs").iterdir()) == before


@pytest.mark.parametrize("path", ["/../../etc/passwd", "/static/../../../../etc/passwd",
                                  "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
                                  "/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
                                  "/%252e%252e/%252e%252e/etc/passwd"])
def test_paths_out_of_the_store_are_refused(served, path: str) -> None:
    server, _, _ = served
    status, _, body = server.request("GET", path)
    assert status == 403 and b"root:" not in body


def test_links_out_of_the_store_are_refused(served) -> None:
    server, _, info = served
    status, _, body = server.request("GET", f"/api/runs/{info['long']}/logs/secret.txt")
    assert status == 403 and b"root:" not in body
    status, _, body = server.request("GET", f"/files/{info['leak']}/leak.txt")
    assert status == 403 and b"root:" not in body
    listed = server.get_json(f"/api/runs/{info['long']}")["logs"]
    assert [log["name"] for log in listed] == ["stdout.txt"]


def test_a_host_header_of_another_site_is_refused(served) -> None:
    server, _, _ = served
    assert server.request("GET", "/api/experiments", headers={"Host": "evil.example"})[0] == 403
    assert server.request("GET", "/api/experiments",
                          headers={"Host": f"localhost:{server.port}"})[0] == 200


def test_runs_page_is_what_runs_list_gives(served) -> None:
    server, root, _ = served
    query = "params.lr < 0.05 and metrics.acc > 0.1"
    page = server.get_json("/api/experiments/exp/runs?limit=3&offset=1&sort=metrics.acc&asc=1"
                           f"&filter={quote(query)}")
    res = run_cli("runs", "list", "-e", "exp", "--filter", query, "--sort", "metrics.acc",
                  "--asc", "--format", "json", env={"DII_HPC_STORE": str(root)})
    assert res.returncode == 0, res.stderr
    listed = json.loads(res.stdout)
    assert page["total"] == 14 and page["matched"] == len(listed)
    assert page["runs"] == listed[1:4]


def test_bad_queries_are_400_with_the_reason(served) -> None:
    server, _, _ = served
    status, _, body = server.request("GET", "/api/experiments/exp/runs?filter=" + quote("lr >"))
    assert status == 400 and "bad --filter" in json.loads(body)["error"]
    assert server.request("GET", "/api/experiments/exp/runs?limit=-1")[0] == 400
    status, _, body = server.request("GET", "/api/experiments/exq/runs")
    assert status == 404 and "did you mean exp" in json.loads(body)["error"]


def test_history_downsampled_keeps_the_spike_and_full_is_exact(served) -> None:
    server, _, info = served
    thin = server.get_json(f"/api/runs/{info['long']}/metrics/loss?width=100")
    assert thin["downsampled"] and thin["count"] == 5000 and thin["points"] <= 200
    assert max(thin["values"]) == 100.0 and thin["last_step"] == 4999
    full = server.get_json(f"/api/runs/{info['long']}/metrics/loss?full=1")
    assert full["steps"] == list(range(5000)) and full["values"][3333] == 100.0
    since = server.get_json(f"/api/runs/{info['long']}/metrics/loss?since=4994")
    assert since["steps"] == [4995, 4996, 4997, 4998, 4999]


def test_log_tail(served) -> None:
    server, _, info = served
    tail = server.get_json(f"/api/runs/{info['long']}/logs/stdout.txt?bytes=100")
    assert tail["cut"] and tail["text"].endswith("line 4999\n")
    assert tail["text"].startswith("line ")  # cut at a line start


def test_listings(served) -> None:
    server, _, info = served
    (exp,) = server.get_json("/api/experiments")
    assert exp["name"] == "exp" and exp["runs"] == 14
    audits = server.get_json("/api/audits")
    assert [a["kind"] for a in audits] == ["audit"]
    assert [m["name"] for m in server.get_json("/api/monitors")] == ["nightly"]
    assert server.get_json("/api/monitors/nightly")["n_rows"] == 10
    assert server.get_json("/api/models") == [] and server.get_json("/api/pipelines") == []
    run = server.get_json(f"/api/runs/{info['long']}")
    assert run["run"]["run_id"] == info["long"] and run["metric_keys"] == ["loss"]
    assert set(run["artifacts"]) == {"weights.txt", "leak.txt"}


def test_artifacts_are_served_inert(served) -> None:
    server, root, info = served
    sha = Store(root).artifacts(info["long"])["weights.txt"]["sha256"]
    status, headers, body = server.request("GET", f"/files/{sha}/weights.txt")
    assert status == 200 and body == b"weights"
    assert headers["content-type"].startswith("text/plain")
    assert "sandbox" in headers["content-security-policy"]


def test_every_answer_carries_the_protective_headers(served) -> None:
    server, _, _ = served
    for token in (True, False):
        _, headers, _ = server.request("GET", "/api/experiments", token=token)
        assert headers["x-frame-options"] == "DENY" and headers["referrer-policy"] == "no-referrer"
        assert "default-src 'self'" in headers["content-security-policy"]


def test_a_busy_port_is_one_line(served) -> None:
    server, root, _ = served
    res = run_cli("ui", "--port", str(server.port), env={"DII_HPC_STORE": str(root)}, timeout=60)
    assert res.returncode == 2 and "give another --port" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
