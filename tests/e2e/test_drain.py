"""A node shutting down drains (issue 12): on SIGTERM its health check fails first, so a load
balancer stops sending it users, the requests it already has finish, and only then does it exit."""
import signal
import threading
import time

import requests


def test_sigterm_fails_the_health_check_then_exits(make_server):
    server = make_server("--drain-seconds", "2").start()
    user = requests.Session()
    reply = user.post(server.url + "/api/register", json={"username": "dora", "password": "correct horse battery"})
    assert reply.status_code == 201
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    health = requests.get(server.url + "/healthz", timeout=2)
    assert health.status_code == 503
    assert health.json()["status"] == "draining"
    # Still serving what it is sent while the balancer catches up.
    assert user.get(server.url + "/api/me", timeout=2).status_code == 200
    assert server.proc.wait(timeout=15) == 0
    assert time.monotonic() - started >= 1.9


def test_a_request_in_flight_at_sigterm_is_answered(make_server):
    # A costly password hash keeps the sign-up in flight when the signal arrives.
    server = make_server("--password-hash", "ln=17,r=8,p=1").start()
    outcome = {}

    def register():
        try:
            outcome["status"] = requests.post(
                server.url + "/api/register", json={"username": "eli", "password": "correct horse battery"}, timeout=30
            ).status_code
        except requests.RequestException as error:
            outcome["error"] = repr(error)

    worker = threading.Thread(target=register)
    worker.start()
    time.sleep(0.15)
    server.proc.send_signal(signal.SIGTERM)
    worker.join(timeout=30)
    assert outcome == {"status": 201}
    assert server.proc.wait(timeout=15) == 0
