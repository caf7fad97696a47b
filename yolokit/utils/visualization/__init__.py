"""Visualization helpers of yolokit."""
