"""What the bot may import: only its own package, nutrition/ and its libraries; never the ML stack, the model
server or the pipeline (it talks HTTP to serving); and each wing only the wings below it."""

import os
import subprocess
import sys

FORBIDDEN = ("torch", "ultralytics", "mlflow", "bentoml", "training", "serving", "pipelines", "dvc")
UNNEEDED = ("pandas", "pyarrow")  # only the nutrition table needs them, and it loads them when it is loaded

# The bot modules each wing may import (besides itself); the channel, the app and the dev tools sit on top.
BELOW = {
    "bot.settings": (),
    "bot.storage": (),
    "bot.chat_text": ("bot.storage",),
    "bot.ledger": ("bot.settings", "bot.storage"),
    "bot.gallery": ("bot.settings", "bot.storage", "bot.chat_text"),
    # what is learned about a person: read by the photo replies (portions) and the coach (ideas, questions)
    "bot.personal": ("bot.settings", "bot.storage", "bot.ledger", "bot.chat_text"),
    "bot.photos": ("bot.settings", "bot.storage", "bot.ledger", "bot.chat_text", "bot.gallery", "bot.personal"),
    "bot.coach": ("bot.settings", "bot.storage", "bot.ledger", "bot.chat_text", "bot.gallery", "bot.personal"),
    # voice notes read what the conversation understands (commands, plans, what was learned) to measure themselves
    "bot.voice": (
        *("bot.settings", "bot.storage", "bot.ledger", "bot.chat_text", "bot.photos"),
        *("bot.coach", "bot.personal", "bot.plans"),
    ),
}


def test_serving_the_bot_loads_no_model_no_dev_tool_and_touches_nothing(tmp_path, repo_root):
    code = (
        "import sys, bot.app, bot.__main__\n"
        f"loaded = {{m.split('.')[0] for m in sys.modules}} & {set(FORBIDDEN + UNNEEDED)!r}\n"
        "assert not loaded, sorted(loaded)\n"
        "assert not [m for m in sys.modules if m.startswith('bot.devtools')]\n"
        "import bot.devtools.simulate, bot.devtools.demo\n"
        f"loaded = {{m.split('.')[0] for m in sys.modules}} & {set(FORBIDDEN)!r}\n"
        "assert not loaded, sorted(loaded)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(repo_root)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == []  # no database file, no folders


def _bot_modules(repo_root):
    for path in sorted((repo_root / "bot").rglob("*.py")):
        parts = path.relative_to(repo_root).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def _wing(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_bot_code_imports_no_ml_stack_and_no_higher_wing(repo_root, module_imports):
    problems = []
    for module, path in _bot_modules(repo_root):
        wing = _wing(module)
        for name in module_imports(path):
            top = name.split(".")[0]
            if top in FORBIDDEN:
                problems.append(f"{module} imports {name}")
            elif top == "bot" and _wing(name) not in (wing, "bot"):
                target = _wing(name)
                if wing in BELOW and target not in BELOW[wing]:
                    problems.append(f"{module} imports {name}: {wing} may import only {BELOW[wing]}")
                elif target == "bot.devtools" and wing != "bot.devtools":
                    problems.append(f"{module} imports the dev tool {name}")
    assert not problems, "\n".join(problems)
