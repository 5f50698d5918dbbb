#!/bin/sh
# cdk.json's "app": the CDK app in the project's virtualenv, or one line saying how to get it
# (`npx cdk synth` on a fresh clone used to fail with ".venv/bin/python: not found").
if [ ! -x .venv/bin/python ]; then
    echo "amiwatch: no virtualenv in $(pwd)/.venv: run \`make venv\` first (it installs the pinned CDK and Python packages), then \`npx cdk synth\` again" >&2
    exit 1
fi
exec .venv/bin/python app.py
