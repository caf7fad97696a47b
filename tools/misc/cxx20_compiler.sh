#!/usr/bin/env bash
# Compiler shim used only while building mmcv's C++ ops from source.
# mmcv 2.1.0's setup.py pins `-std=c++17`, but the headers of torch >= 2.10
# need C++20; rewrite that one flag and hand everything else to the real g++.
args=()
for a in "$@"; do
  case "$a" in
    -std=c++14|-std=c++17|-std=gnu++17) args+=("-std=c++20") ;;
    *) args+=("$a") ;;
  esac
done
exec "${YOLOKIT_REAL_CXX:-g++}" "${args[@]}"
