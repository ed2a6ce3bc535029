# Autoloader: the human and CI entry points. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# code checked by mypy (strict on libs; services relax Any-returns, see pyproject)
mypy_targets := "libs/core/src libs/contracts/src libs/bus/src libs/db/src libs/sources/src libs/formats/src services/api/src services/scheduler/src services/discovery/src services/loader/src services/projector/src services/cli/src"

default:
    @just --list

# start the embedded stack and keep it running (Ctrl-C stops it); e.g. `just up --demo`
up *ARGS:
    uv run autoloader up {{ARGS}}

# start the stack, load the demo dataset, print the result, stop
demo *ARGS:
    uv run autoloader demo {{ARGS}}

# the whole test suite (pass pytest arguments to narrow it: `just test tests/unit -q`)
test *ARGS:
    uv run pytest {{ARGS}}

# the long API fuzz: schemathesis, a few hundred examples per operation on real NATS + PostgreSQL (the suite runs a short one)
fuzz *ARGS:
    uv run pytest tests/integration/test_api_fuzz.py -m fuzz_long -s -q {{ARGS}}

# ruff, import layering rules, mypy on the libraries
lint:
    uv run ruff check --no-cache .
    uv run lint-imports
    uv run mypy {{mypy_targets}}

# 100 randomized crash trials (SIGKILL of a random service mid-run; CI runs 10), with the tally printed
crash-trials trials="100":
    AUTOLOADER_CRASH_TRIALS={{trials}} uv run pytest tests/e2e/test_crash_trials.py -q -s -p no:randomly -k random

# the whole issue-13 suite, one bench after another, into bench/results/summary.md (`just bench --quick` proves it runs)
bench *ARGS:
    uv run python bench/suite.py {{ARGS}}

# full stack vs bare PyArrow + PyIceberg on the same files (`just bench-full-stack --format small_json`)
bench-full-stack *ARGS:
    uv run python bench/full_stack_vs_bare.py {{ARGS}}

# the API's read models for a small vs a big tenant (1,000 ingestions, 1M runs); `just bench-reads --scale 0.01` is quick
bench-reads *ARGS:
    uv run python bench/api_reads_at_scale.py {{ARGS}}

# issue 13: p50/p95/p99 of GET /ingestions, /runs, /dashboard over HTTP at 1,000 ingestions / 1M runs (`--scale 0.01 --requests 50` is quick)
bench-api-load *ARGS:
    uv run python bench/api_load.py {{ARGS}}

# issue 13: tick lag and CPU of 10,000 per-minute schedules on a real NATS, heap vs the old scan (~6 min)
bench-scheduler *ARGS:
    uv run python bench/scheduler_ticks.py {{ARGS}}

# loaders sharing one run's batches: 1 vs 3 loader processes on the same dataset
bench-loaders *ARGS:
    uv run python bench/multi_loader.py {{ARGS}}

# issue 13 run targets: a no-op run over a 100,000-file ledger vs os.scandir (`just bench-noop --files 2000` is quick)
bench-noop *ARGS:
    uv run python bench/noop_run.py {{ARGS}}

# issue 13: +10 files onto a table of 100 snapshots, full stack vs the raw PyIceberg append
bench-incremental *ARGS:
    uv run python bench/incremental_run.py {{ARGS}}

# issue 13: the loader's peak RSS on one 2 GB CSV vs a raw streaming PyArrow + PyIceberg load (`--gb 0.1` is quick)
bench-memory *ARGS:
    uv run python bench/loader_memory.py {{ARGS}}

# regenerate docs/asyncapi.json from the event catalogue (commit the result)
asyncapi:
    uv run python -m autoloader_contracts.asyncapi docs/asyncapi.json
    uv run python -c 'import pathlib; from autoloader_contracts.asyncapi import with_catalogue as w; p = pathlib.Path("docs/events.md"); p.write_text(w(p.read_text()))'


# regenerate the settings table in docs/operations.md (tests/unit/test_settings.py checks it is current)
env-docs:
    uv run python -c 'import pathlib; from autoloader_core.settings import with_env_table as w; p = pathlib.Path("docs/operations.md"); p.write_text(w(p.read_text()))'


# regenerate docs/openapi.json from the API routes (the running API serves it at /schema/openapi.json)
openapi:
    #!/usr/bin/env -S uv run python
    import json, pathlib
    import msgspec
    from autoloader_api.app import create_app
    from autoloader_core.settings import Settings
    # Building the app only records its adapters; no server is contacted to render the schema.
    app = create_app(Settings(), bus=None, pool=None)
    schema = json.loads(msgspec.json.encode(app.openapi_schema.to_schema()))  # examples may be Structs
    text = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    pathlib.Path("docs/openapi.json").write_text(text)
    print("wrote docs/openapi.json")
