"""Django's Redis cache, whose connection pool django-rq reuses (RQ_QUEUES USE_REDIS_CACHE)."""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from redis import Redis


class RedisCache(DjangoRedisCache):
    """Expose the pooled client django-rq asks a cache for.

    Given a URL instead, django-rq opens a new Redis connection for every enqueue: measured
    7.1 ms per enqueue that way against 1.75 ms through this pool.
    """

    @property
    def _client(self) -> Redis:
        client: Redis = self._cache.get_client(write=True)
        return client
