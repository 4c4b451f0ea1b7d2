from __future__ import annotations

from api.errors import AppError, Unauthorized


class InvalidClient(Unauthorized):
    """RFC 6749's `invalid_client`: an unknown, revoked or expired API key."""

    code = "invalid_client"
    title_zh = "API 密钥无效、已吊销或已过期"
    title_en = "API key invalid, revoked or expired"


class InvalidScope(AppError):
    status = 400
    code = "invalid_scope"
    title_zh = "请求的权限范围超出该服务账号的授权"
    title_en = "Requested scope exceeds the service account's scopes"


class UnsafeDestination(AppError):
    status = 422
    code = "unsafe_destination"
    title_zh = "回调地址指向内网、本机或链路本地地址，未经管理员放行不可使用"
    title_en = "The destination resolves to a loopback, private or link-local address not allow-listed"


class UnresolvableDestination(UnsafeDestination):
    """Also refused: a name that does not resolve cannot be checked (and would fail every delivery)."""

    code = "destination_unresolvable"
    title_zh = "回调地址的主机名无法解析"
    title_en = "The destination's host name does not resolve"
