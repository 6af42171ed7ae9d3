"""The test and dev harness: everything that starts, breaks or simulates EcoMarket from outside, and that no
server of a deployment ever imports (ecomarket/tests/test_layout.py checks that).

- ``processes``: real servers on loopback (gunicorn, Celery worker and beat), each its own process group;
- ``chain``: ``ProcessChain``, central and its branches as those real processes, with a ``FaultProxy`` on each link;
- ``faults``: ``FaultProxy``, the TCP proxy that refuses, delays, blackholes and cuts a branch's link to central;
- ``pgbouncer``: Debian's PgBouncer in transaction mode in front of the test PostgreSQL;
- ``chainsim``: ``SimChain``, hundreds of branches simulated as asyncio clients of the real sync protocol;
- ``soak``: the fault-injection soak (``python -m harness.soak``);
- ``devrun``: ``make run``, a demo chain (central, B001, B002) on the embedded defaults.

The tests (``*/tests/``) and the benchmarks (``bench/``) use it; the Docker image leaves it out.
"""
