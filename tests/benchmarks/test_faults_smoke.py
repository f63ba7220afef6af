"""benchmarks/faults.py runs end to end with tiny numbers: the bot as a subprocess, SIGKILLed and restarted,
the model server stand-in killed, the database locked; it prints its table and writes its report.

It does not assert that nothing was lost: that is the benchmark's own verdict (its exit code)."""

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_crash_run_prints_the_table_and_writes_the_report(repo_root, tmp_path):
    tiny = "--people 2 --kills 2 --kill-after 1,3 --duration 15 --model-kills 1 --db-locks 1 --drain-s 5"
    command = [sys.executable, "benchmarks/faults.py", "crash", *tiny.split(), "--workdir", str(tmp_path)]
    done = subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=90)
    assert done.returncode in (0, 1), done.stdout + done.stderr  # 1: something was lost (the verdict)
    for row in ("messages sent", "accepted", "bot SIGKILLs", "lost", "duplicated", "webhook latency", "recovery"):
        assert row in done.stdout, done.stdout
    report = json.loads((tmp_path / "faults.json").read_text())
    assert report["bot_kills"] >= 2 and report["model_kills"] == 1 and report["db_locks"] == 1
    assert report["sent"] > 0 and report["accepted"] > 0
    assert (tmp_path / "bot.log").stat().st_size > 0 and (tmp_path / "client.jsonl").is_file()


@pytest.mark.slow
def test_crash_run_with_two_replicas_on_the_sqs_queue(repo_root, tmp_path):
    pytest.importorskip("moto.server", reason="moto[server] is not installed")
    tiny = "--people 2 --kills 2 --kill-after 1,3 --duration 15 --model-kills 1 --db-locks 1 --drain-s 20"
    options = [*tiny.split(), "--replicas", "2", "--queue", "sqs", "--workdir", str(tmp_path)]
    command = [sys.executable, "benchmarks/faults.py", "crash", *options]
    done = subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    assert "2 bot(s), work queue sqs" in done.stdout, done.stdout
    report = json.loads((tmp_path / "faults.json").read_text())
    assert report["run"]["replicas"] == 2 and report["run"]["store"] == f"sqlite:///{tmp_path / 'bot.db'}"
    assert report["bot_kills"] >= 2 and report["sent"] > 0
    for name in ("bot-0", "bot-1"):  # both replicas served and used the queue
        assert "work queue: SQS" in (tmp_path / f"{name}.log").read_text()


def test_a_store_the_campaign_cannot_serve_is_refused_up_front(repo_root, tmp_path):
    # the campaign serves its own DynamoDB table (never a real one) and checks SQLite files; anything else: refused
    for store, said in (
        ("dynamodb://us-east-1?table=bot&endpoint=http://127.0.0.1:9", "give no endpoint"),
        ("postgresql://bot@localhost/bot", "a sqlite:/// file or a dynamodb:// table"),
    ):
        command = [sys.executable, "benchmarks/faults.py", "crash", "--store", store, "--workdir", str(tmp_path)]
        done = subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and said in " ".join(done.stderr.replace("│", " ").split()), done.stderr
