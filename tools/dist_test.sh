#!/usr/bin/env bash
# Distributed testing with torchrun: one process per GPU (or, on a machine
# without GPUs, NUM_PROCESSES CPU processes with the gloo backend).
#
#   tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCESSES [test.py options...]
#
# Environment: NNODES (1), NODE_RANK (0), PORT (29500), MASTER_ADDR
# (127.0.0.1), PYTHON (python).
set -e
if [ $# -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT NUM_PROCESSES [test.py options...]" >&2
    exit 2
fi

CONFIG=$1
CHECKPOINT=$2
GPUS=$3
# A swapped or forgotten argument would reach torchrun as the count.
case "$GPUS" in
    '' | *[!0-9]* | 0)
        echo "$0: NUM_PROCESSES must be a positive integer, got '$GPUS'" >&2
        echo "usage: $0 CONFIG CHECKPOINT NUM_PROCESSES [test.py options...]" >&2
        exit 2 ;;
esac
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

# Use the yolokit of this checkout, not another installed copy.
PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$(dirname "$0")/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
