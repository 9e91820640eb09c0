"""A local replica of Spotify's accounts service and Web API, for tests, benchmarks and trying isrcdb out.

Machines that cannot reach Spotify (CI, these development machines) run isrcdb against this replica instead, the way
moto stands in for AWS. It reproduces what isrcdb relies on, with Spotify's 2026 statuses, bodies and headers:

- ``POST /api/token`` (client credentials), ``GET /v1/search?q=isrc:...``, ``GET /v1/tracks/{id}`` and
  ``GET /v1/tracks?ids=``, in the ``development`` profile (2026 limits and removed fields; the default) or the
  ``extended`` one;
- a catalogue: the built-in sample (:mod:`.sample`), JSON files, bundled real responses, and synthetic codes
  (:mod:`.synthetic`) for benchmarks of any size;
- scripted faults (:mod:`.faults`), a rolling-window rate limit (:mod:`.ratelimit`), added latency, token
  revocation, and counters (:mod:`.stats`), from Python or over HTTP (:mod:`.control`).

It uses only the standard library, and imports nothing else from isrcdb::

    from isrcdb.testing.spotify import SpotifyReplica

    with SpotifyReplica() as replica:
        replica.inject("429", 2, retry_after=1)
        ...  # run isrcdb with replica.env()
        assert replica.search_count("USRC17607839") == 3

From a shell: ``isrcdb-spotify-replica --port 8765`` or ``isrcdb-spotify-replica -- isrcdb lookup USRC17607839``
(see ``--help``).
"""

from isrcdb.testing.spotify.catalogue import Catalogue, CatalogueError
from isrcdb.testing.spotify.faults import Fault, parse_fault_spec
from isrcdb.testing.spotify.profiles import DEVELOPMENT, EXTENDED, PROFILES, Profile
from isrcdb.testing.spotify.replica import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SpotifyReplica
from isrcdb.testing.spotify.synthetic import DEFAULT_PREFIXES, SyntheticCatalogue

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_PREFIXES",
    "DEVELOPMENT",
    "EXTENDED",
    "PROFILES",
    "Catalogue",
    "CatalogueError",
    "Fault",
    "Profile",
    "SpotifyReplica",
    "SyntheticCatalogue",
    "parse_fault_spec",
]
