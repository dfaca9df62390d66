"""Requests the HTTP parser refuses still get the JSON error every other refusal gets."""
import json
import socket


def raw_exchange(server, data):
    """Sends `data` on a fresh connection and reads until the server closes it."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def parse(response):
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return status, headers, body


def test_oversized_header_block_gets_431_json(server):
    big = b"a" * (100 * 1024)
    status, headers, body = parse(raw_exchange(server, b"GET /api/me HTTP/1.1\r\nHost: x\r\nX-Big: " + big + b"\r\n\r\n"))
    assert status == 431
    assert headers["content-type"].startswith("application/json")
    assert headers["connection"] == "close"
    assert int(headers["content-length"]) == len(body)
    assert json.loads(body)["error"] == "request_header_fields_too_large"


def test_malformed_request_gets_400_json(server):
    for request in (b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", b"GET\x01 / HTTP/1.1\r\n\r\n"):
        status, headers, body = parse(raw_exchange(server, request))
        assert status == 400
        assert headers["content-type"].startswith("application/json")
        assert json.loads(body)["error"] == "malformed_request"


def test_server_keeps_serving_after_protocol_errors(server):
    raw_exchange(server, b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n")
    status, _, body = parse(raw_exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
    assert status == 200
    assert json.loads(body)["status"] == "ok"


def test_malformed_chunked_body_gets_400_json(server):
    """The head is fine, so a route runs; then the parser refuses a chunk size: still 400, not 500."""
    for chunk in (b"1\r\n12\r\n0\r\n\r\n", b"zz\r\nab\r\n0\r\n\r\n", b"-1\r\na\r\n0\r\n\r\n"):
        request = (b"PUT /api/session/data/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n" + chunk)
        status, headers, body = parse(raw_exchange(server, request))
        assert status == 400, (chunk, status, body)
        assert json.loads(body)["error"] == "malformed_request"


def test_a_connection_that_never_finishes_its_head_is_closed(make_server):
    """Slow-header (slowloris) and idle connections are closed after --header-timeout, even when
    the client keeps sending a byte now and then; the server keeps answering others meanwhile."""
    import time
    import requests
    server = make_server("--header-timeout", "2s").start()
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\n")
    started = time.time()
    closed_after = None
    for _ in range(20):
        time.sleep(0.5)
        try:
            s.sendall(b"X")
        except OSError:
            closed_after = time.time() - started
            break
    s.close()
    assert closed_after is not None and closed_after < 6, closed_after
    assert requests.get(server.url + "/healthz", timeout=5).status_code == 200


def test_head_answers_like_get_without_starting_a_session(server):
    import requests
    head = requests.head(server.url + "/login")
    get = requests.get(server.url + "/login")
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert int(head.headers["Content-Length"]) == len(get.content)
    assert "Set-Cookie" not in head.headers, "no session is stored for a page nobody sees"
    assert "Set-Cookie" in get.headers
