"""Fault-injection points of the loader, for crash tests (``AUTOLOADER_FAULT``; never set in production).

Each one makes the loader die, or fail, at one step of loading a batch, so tests can prove that
no step boundary loses or duplicates a row; ``SLOW_LOAD`` only makes runs last long enough for a
test to act in the middle of one, whatever the machine's speed.
"""

from __future__ import annotations

EXIT_BEFORE_LOAD = "loader.exit_before_load"
"""Die on every delivery of a batch, before reading anything."""
FAIL_LOAD = "loader.fail_load"
"""Fail every delivery of a batch with a transient error."""
BEFORE_COMMIT = "loader.before_commit"
"""Die with the batch's data files written but the Iceberg commit not made."""
AFTER_COMMIT = "loader.after_commit"
"""Die with the batch committed to Iceberg but neither announced (``BatchLoaded``) nor acknowledged."""
AFTER_ANNOUNCE = "loader.after_announce"
"""Die with ``BatchLoaded`` appended but the message not acknowledged."""
SLOW_LOAD = "loader.slow_load"
"""Wait :data:`SLOW_LOAD_SECONDS` before loading each batch."""
SLOW_LOAD_SECONDS = 0.5
COMMIT_STEPS = (BEFORE_COMMIT, AFTER_COMMIT, AFTER_ANNOUNCE)
"""The faults between the steps of a batch's commit, in order."""
