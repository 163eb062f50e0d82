"""Median wall time of commands, for the benchmark scripts in this folder."""
import statistics, subprocess, time


def median(cmd, cwd, runs):
    """Runs `cmd` once to warm the caches, then `runs` times; returns the median in seconds."""
    return medians([cmd], cwd, runs)[0]


def medians(cmds, cwd, runs, setup=None):
    """Runs every command once to warm the caches, then all of them in turn, `runs` rounds,
    so that a noisy neighbour slows each of them alike; returns their medians in seconds.
    With `setup`, it is called, untimed, before every timed run."""
    for cmd in cmds:
        subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    samples = [[] for _ in cmds]
    for _ in range(runs):
        for cmd, taken in zip(cmds, samples):
            if setup:
                setup()
            start = time.perf_counter()
            subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
            taken.append(time.perf_counter() - start)
    return [statistics.median(taken) for taken in samples]
