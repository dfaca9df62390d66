"""`cloakroom lab topologies` (issue 13), run small: real clusters behind HAProxy, real faults,
a report drawn from the measured figures; and `lab report` draws it again from edited figures, so
a changed measurement changes the verdict."""
import json
import os
import shutil
import subprocess
import tempfile

from conftest import BIN


def run(*args, timeout=600):
    result = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def verdict(markdown, question):
    line = next(l for l in markdown.splitlines() if l.startswith(f"- **{question}:**"))
    return line.split(":**", 1)[1].strip()


def test_lab_runs_small_and_its_verdicts_follow_the_figures():
    parent = tempfile.mkdtemp(prefix="cloakroom-lab-")
    os.chmod(parent, 0o711)
    try:
        out = os.path.join(parent, "report")
        printed = run("lab", "topologies", "--nodes", "3", "--users", "24", "--duration", "10s", "--rate", "40",
                      "--session-bytes", "1k", "--topologies", "sticky,replicated", "--out", out,
                      "--work", os.path.join(parent, "clusters"))
        assert "killed node2" in printed and "added node4" in printed, printed
        figures = json.load(open(os.path.join(out, "topologies.json")))
        runs = {r["topology"]: r for r in figures["runs"]}
        assert set(runs) == {"sticky", "replicated"}
        for name, r in runs.items():
            assert r["kinds"]["read"]["sent"] > 50, (name, r["kinds"])
            assert [f["name"].split()[0] for f in r["faults"]] == ["kill", "hang", "add"], r["faults"]
            assert r["joinSeconds"] > 0 and r["sessionsHeld"] > 0, r
            assert r["revocationSamples"] > 0, r
        # Replication moves bytes; sticky has nothing to replicate; the replicated nodes keep
        # every session, so nobody signed in is signed out by the kill there.
        assert runs["replicated"]["messagesPerWrite"] > 0 and runs["sticky"].get("messagesPerWrite") is None
        assert runs["replicated"]["faults"][0]["signedOut"] == 0, runs["replicated"]["faults"]
        assert runs["sticky"]["faults"][0]["pinnedToNode"] is not None
        markdown = open(os.path.join(out, "topologies.md")).read()
        for chart in ("topologies-latency-1024.svg", "topologies-faults-1024.svg", "topologies-memory-1024.svg"):
            assert f"]({chart})" in markdown
            assert open(os.path.join(out, chart)).read().startswith("<svg")
        assert "Sticky sessions at the kill" in markdown

        # Change one measured input: the replicated run now signs out more users than sticky did,
        # and loses a write. The verdicts drawn from the edited figures follow.
        before = verdict(markdown, "Fewest users signed out by the faults")
        assert before.startswith("replicated"), before
        edited = json.loads(json.dumps(figures))
        for r in edited["runs"]:
            if r["topology"] == "replicated":
                r["faults"][0]["signedOut"] = 1000
                r["acknowledgedWritesLost"] = 5
            else:
                for fault in r["faults"]:
                    fault["signedOut"] = 0
                r["acknowledgedWritesLost"] = 0
        edited_path = os.path.join(parent, "edited.json")
        json.dump(edited, open(edited_path, "w"))
        again = os.path.join(parent, "again")
        run("lab", "report", "--figures", edited_path, "--out", again)
        changed = open(os.path.join(again, "topologies.md")).read()
        assert verdict(changed, "Fewest users signed out by the faults").startswith("sticky"), changed
        assert verdict(changed, "Overall, for this workload").startswith("sticky"), changed
        assert verdict(markdown, "Overall, for this workload").startswith("replicated"), markdown
    finally:
        subprocess.run(["pkill", "-f", parent], capture_output=True)
        shutil.rmtree(parent, ignore_errors=True)
