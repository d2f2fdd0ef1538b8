"""Identity providers' request sequences replayed over HTTP (docs/idp-behaviour.md)."""
