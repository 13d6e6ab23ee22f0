"""Session-wide test settings.

Hypothesis profiles: ``dev`` (default) explores fresh random examples each
run; ``ci`` (chosen when the CI environment variable is set) runs more
examples, derandomized so a CI failure reproduces exactly, and keeps no
example database. ``HYPOTHESIS_PROFILE`` overrides the choice.
"""

import os

from hypothesis import HealthCheck, settings

# Deadlines measure wall time, which a shared 2-core CI machine makes noisy.
settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))
