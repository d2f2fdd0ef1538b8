"""Identity providers' request sequences replayed over HTTP (../shared/docs/idp-protocol.md)."""
