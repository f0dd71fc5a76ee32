#!/usr/bin/env python3
"""Fault test: the service must lose no ballot and recover on its own when its dependencies fail.

1. While owners cast ballots (retrying with the same idempotency key after any 5xx or dropped
   connection, as the mini-program does), PostgreSQL is stopped and started again. Afterwards
   every ballot that got a success response is in the database exactly once, with exactly one
   ledger entry, every voter ended up with one ballot, and the service answered again within
   5 s of PostgreSQL accepting connections, without being restarted.
2. With the object store stopped, uploads fail with 503 and leave no attachment rows; once it is
   back, uploads work again.

Needs: a debug build of `zmg` (target/debug/zmg), s3s-fs on PATH, PostgreSQL on 127.0.0.1:5432
managed by pg_ctlcluster (this machine's, and CI's). Run by scripts/test.sh; alone:
    python3 scripts/fault-test.py
"""

import concurrent.futures
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PG = os.environ.get("ZMG_FAULT_PG", "postgres://postgres@127.0.0.1:5432")
DB = "zhimaguan_fault"
MATTERS = 5
OWNERS = 40  # the demo tenant's verified owners: 13700000001 … 13700000040
PNG = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\0\0\x01\x01\0\x05\x18\xd8N\0\0\0\0IEND\xaeB`\x82"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def log(msg):
    print(f"[fault-test {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fail(msg):
    print(f"FAIL: {msg}", flush=True)
    sys.exit(1)


def psql(sql, db=DB):
    out = subprocess.run(["psql", "-qAtX", f"{PG}/{db}", "-c", sql], check=True, capture_output=True, text=True)
    return out.stdout.strip()


class Http:
    def __init__(self, base):
        self.base = base

    def call(self, method, path, token=None, body=None, headers=None, timeout=30):
        data = None
        h = {"X-Tenant": "demo"}
        if token:
            h["Authorization"] = f"Bearer {token}"
        if isinstance(body, (bytes, bytearray)):
            data = bytes(body)
        elif body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw[:1] in (b"{", b"[") else raw)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw
        except (urllib.error.URLError, ConnectionError, TimeoutError, socket.timeout) as e:
            return None, str(e)


def pg_cluster():
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    return ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]


def pg_ready():
    return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"]).returncode == 0


def start_s3(root, port, key, secret):
    return subprocess.Popen(
        ["s3s-fs", "--host", "127.0.0.1", "--port", str(port), "--access-key", key, "--secret-key", secret, root],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_port(port, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    fail(f"nothing listens on port {port}")


def multipart_png():
    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\ndocument\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"scan.png\"\r\n"
        "Content-Type: image/png\r\n\r\n"
    ).encode() + PNG + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def main():
    zmg = os.path.join(ROOT, "target", "debug", "zmg")
    if not os.path.exists(zmg):
        fail("build first: cargo build --bin zmg")
    work = tempfile.mkdtemp(prefix="zmg-fault-")
    psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)", db="postgres")
    s3_port, port = free_port(), free_port()
    key, secret, bucket = "faultaccess", uuid.uuid4().hex, "zhimaguan-fault"
    os.makedirs(os.path.join(work, "s3", bucket))
    s3 = start_s3(os.path.join(work, "s3"), s3_port, key, secret)
    wait_port(s3_port)
    env = dict(
        os.environ,
        ZMG_DATABASE_URL=f"{PG}/{DB}",
        ZMG_LISTEN=f"127.0.0.1:{port}",
        ZMG_S3_ENDPOINT=f"http://127.0.0.1:{s3_port}",
        ZMG_S3_BUCKET=bucket,
        ZMG_S3_ACCESS_KEY=key,
        ZMG_S3_SECRET_KEY=secret,
        ZMG_LOG_FORMAT="json",
        # Checkpoints every second, so entries are sealed while PostgreSQL goes away and back.
        ZMG_LEDGER_CHECKPOINT_SECONDS="1",
    )
    server_log = open(os.path.join(work, "server.log"), "w+")
    # The console lines (address, demo passwords) and the log, in one file.
    server = subprocess.Popen([zmg, "serve", "--demo"], env=env, stdout=server_log, stderr=subprocess.STDOUT)
    try:
        run(server, server_log, port, s3, s3_port, key, secret, work)
    finally:
        server.terminate()
        s3.terminate()
        if not pg_ready():
            subprocess.run(pg_cluster() + ["start"])
        os.makedirs(os.path.join(ROOT, "target", "fault"), exist_ok=True)
        shutil.copy(os.path.join(work, "server.log"), os.path.join(ROOT, "target", "fault", "server.log"))
        shutil.rmtree(work, ignore_errors=True)


def run(server, server_log, port, s3, s3_port, key, secret, work):
    deadline = time.time() + 120
    text = ""
    while "listening on" not in text:
        if server.poll() is not None or time.time() > deadline:
            fail("the service did not start:\n" + text)
        time.sleep(0.2)
        server_log.seek(0)
        text = server_log.read()
    admin_password = re.search(r"login: admin / (\S+)", text).group(1)
    owner_password = re.findall(r"password (\S+)", text)[-1]
    http = Http(f"http://127.0.0.1:{port}")

    _, staff = http.call("POST", "/api/auth/staff/login", body={"username": "admin", "password": admin_password})
    staff = staff["token"]
    owners = []
    for n in range(1, OWNERS + 1):
        s, b = http.call("POST", "/api/auth/owner/login", body={"phone": f"137{n:08d}", "password": owner_password, "accept_agreement": True})
        if s != 200:
            fail(f"owner login {n}: {s} {b}")
        owners.append(b["token"])

    # The estate the demo owners hold their units in.
    _, properties = http.call("GET", "/api/me/properties", owners[0])
    estate = properties["items"][0]["estate_id"]
    now = time.time()
    matters = []
    for i in range(MATTERS):
        body = {
            "estate_id": estate, "type_name": "公共收益", "title": f"故障演练 {i + 1}", "content": "", "importance": "normal",
            "opens_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 5)),
            "closes_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 86400)), "law_item": 4,
        }
        s, m = http.call("POST", "/api/matters", staff, body)
        if s != 201:
            fail(f"creating a matter: {s} {m}")
        matters.append(m["id"])
    # --- 1. PostgreSQL restarted under a load of ballots -------------------------------------
    tasks = [(o, m) for o in range(OWNERS) for m in range(MATTERS)]
    random.Random(7).shuffle(tasks)
    successes = {}  # (owner, matter) -> ballot id
    errors_seen = {"5xx": 0, "dropped": 0}
    lock = threading.Lock()
    started = threading.Event()
    problems = []

    # Each voter keeps one choice through every retry, as a real client would; it is checked in
    # the database at the end.
    def choice_of(task):
        o, m = task
        return ["agree", "disagree", "abstain"][(o + 2 * m) % 3]

    def cast(task):
        o, m = task
        key = f"fault-{o}-{m}"
        for _ in range(600):
            s, b = http.call("POST", f"/api/matters/{matters[m]}/ballots", owners[o], {"choice": choice_of(task), "idempotency_key": key}, timeout=15)
            if s in (200, 201):
                with lock:
                    successes[task] = b["ballot_id"]
                    if len(successes) >= len(tasks) // 4:
                        started.set()
                return
            with lock:
                errors_seen["5xx" if s is not None else "dropped"] += 1
            if s is not None and s < 500:
                problems.append(f"ballot {task} refused: {s} {b}")
                started.set()
                return
            time.sleep(0.1)
        problems.append(f"ballot {task} never succeeded")

    cluster = pg_cluster()
    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        futures = [pool.submit(cast, t) for t in tasks]
        started.wait(60)
        if problems:
            fail(problems[0])
        log(f"{len(successes)} of {len(tasks)} ballots in; stopping PostgreSQL")
        subprocess.run(cluster + ["stop", "-m", "fast"], check=True)
        time.sleep(3)
        subprocess.run(cluster + ["start"], check=True)
        while not pg_ready():
            time.sleep(0.05)
        back = time.time()
        log("PostgreSQL is accepting connections again")
        while True:
            r, _ = http.call("GET", "/readyz", timeout=5)
            e, _ = http.call("GET", "/api/estates", staff, timeout=5)
            if r == 200 and e == 200:
                break
            if time.time() - back > 30:
                fail("the service did not recover within 30 s")
            time.sleep(0.05)
        recovered = time.time() - back
        for f in futures:
            f.result()
    if problems:
        fail(f"{len(problems)} problems, first: {problems[0]}")
    log(f"service answered again {recovered:.2f} s after PostgreSQL returned; retries after errors: {errors_seen}")
    if sum(errors_seen.values()) == 0:
        fail("the outage hit no request in flight, so it proved nothing: stop PostgreSQL sooner or cast more")
    if recovered > 5:
        fail(f"recovery took {recovered:.2f} s (limit 5 s)")
    if server.poll() is not None:
        fail("the service process exited")
    if len(successes) != len(tasks):
        fail(f"{len(tasks) - len(successes)} voters never got a success")

    schema = psql("SELECT schema_name FROM platform.tenants WHERE slug = 'demo'")
    ids = ",".join(f"'{b}'" for b in successes.values())
    matter_ids = ",".join(f"'{m}'" for m in matters)
    rows, distinct = psql(f"SELECT count(*), count(DISTINCT id) FROM {schema}.ballots WHERE id IN ({ids})").split("|")
    total = psql(f"SELECT count(*) FROM {schema}.ballots WHERE matter_id IN ({matter_ids})")
    ledger = psql(f"SELECT count(*) FROM {schema}.ledger_entries WHERE kind = 'cast' AND ballot_id IN ({ids})")
    per_person = psql(f"SELECT coalesce(max(n), 0) FROM (SELECT count(*) n FROM {schema}.ballots WHERE matter_id IN ({matter_ids}) GROUP BY matter_id, holder_key) x")
    log(f"acknowledged {len(successes)}; stored {rows} ({distinct} distinct); ballots on these matters {total}; cast ledger entries {ledger}; most ballots per person and matter {per_person}")
    if not (int(rows) == int(distinct) == int(total) == int(ledger) == len(successes) and per_person == "1"):
        fail("ballots lost or duplicated")
    stored = dict(line.split("|") for line in psql(f"SELECT id, choice FROM {schema}.ballots WHERE id IN ({ids})").splitlines())
    wrong = [task for task, ballot in successes.items() if stored.get(ballot) != choice_of(task)]
    if wrong:
        fail(f"{len(wrong)} ballots stored another choice than their voter sent, first: {wrong[0]}")
    log(f"every stored ballot holds the choice its voter sent ({len(stored)} checked)")
    time.sleep(2.5)  # at least one more checkpoint round after the last ballot
    sealed = 0
    for m in matters:
        s, v = http.call("GET", f"/api/matters/{m}/ledger/verification", staff)
        if s != 200 or not (v["root_matches"] and v["tally_matches"] and v["opening_matches"]) or v["altered_entries"] or v["broken_checkpoints"]:
            fail(f"ledger of {m} does not verify: {s} {v}")
        _, ledger = http.call("GET", f"/api/matters/{m}/ledger", staff)
        sealed += sum(1 for e in ledger["entries"] if e.get("position") is not None)
    log(f"ledgers verify; {sealed} of {len(successes)} entries sealed by checkpoints")
    if sealed != len(successes):
        fail("every entry should be sealed by a checkpoint by now")

    # --- 2. Object store stopped during uploads ---------------------------------------------
    def attachment_rows():
        return int(psql(f"SELECT count(*) FROM {schema}.attachments"))

    body, headers = multipart_png()
    s, b = http.call("POST", "/api/attachments", staff, body, headers)
    if s != 201:
        fail(f"upload with the store up: {s} {b}")
    before = attachment_rows()
    s3.kill()
    s3.wait()
    statuses = []
    for _ in range(5):
        body, headers = multipart_png()
        s, b = http.call("POST", "/api/attachments", staff, body, headers)
        statuses.append((s, b.get("code") if isinstance(b, dict) else b))
    after = attachment_rows()
    log(f"uploads with the store down: {statuses}; attachment rows {before} -> {after}")
    if any(s != 503 for s, _ in statuses) or after != before:
        fail("uploads must fail with 503 and leave no rows while the store is down")
    s3 = start_s3(os.path.join(work, "s3"), s3_port, key, secret)
    try:
        wait_port(s3_port)
        body, headers = multipart_png()
        s, b = http.call("POST", "/api/attachments", staff, body, headers)
    finally:
        s3.terminate()
    if s != 201 or attachment_rows() != before + 1:
        fail(f"upload after the store returned: {s} {b}")
    log("PASS: no ballot lost or doubled across a PostgreSQL restart; uploads refused cleanly without the store")


if __name__ == "__main__":
    main()
