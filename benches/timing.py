"""Median wall time of a command, for the benchmark scripts in this folder."""
import statistics, subprocess, time


def median(cmd, cwd, runs):
    """Runs `cmd` once to warm the caches, then `runs` times; returns the median in seconds."""
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)
