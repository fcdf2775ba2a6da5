"""Serverless order orchestration for BigCommerce merchants: the domain package shared by every Lambda."""
