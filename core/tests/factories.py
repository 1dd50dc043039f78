import uuid

import factory

from core.attribution import team_attribution_id
from core.models import APIKey, generate_api_key, hash_api_key


class APIKeyFactory(factory.django.DjangoModelFactory):
    """An API key; the raw key is on `obj.raw_key` (only the hash is stored)."""

    class Meta:
        model = APIKey

    name = factory.Sequence(lambda n: f"key {n}")
    attribution_id = factory.LazyFunction(lambda: team_attribution_id(uuid.uuid4()))
    raw_key = factory.LazyFunction(generate_api_key)
    prefix = factory.LazyAttribute(lambda o: o.raw_key[:12])
    key_hash = factory.LazyAttribute(lambda o: hash_api_key(o.raw_key))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        raw_key = kwargs.pop("raw_key")
        obj = super()._create(model_class, *args, **kwargs)
        obj.raw_key = raw_key
        return obj
