from __future__ import annotations

from api.errors import AppError, Unauthorized


class BadCredentials(Unauthorized):
    code = "bad_credentials"
    title_zh = "用户名或密码错误"
    title_en = "Wrong username or password"


class TokenInvalid(Unauthorized):
    code = "token_invalid"
    title_zh = "登录凭证无效或已过期，请重新登录"
    title_en = "Token invalid or expired; please sign in again"


class UsernameTaken(AppError):
    status = 409
    code = "username_taken"
    title_zh = "用户名已存在"
    title_en = "Username already taken"


class RefreshTokenReplayed(TokenInvalid):
    """Raised after the token's family was revoked; the revocation must be committed all the same."""

    code = "refresh_token_replayed"
    commit_anyway = True


class BadCredentialsCounted(BadCredentials):
    """A wrong password whose failure count must be kept although the request fails."""

    commit_anyway = True


class TooManySignIns(AppError):
    status = 429
    code = "too_many_sign_ins"
    title_zh = "登录失败次数过多，请稍后再试"
    title_en = "Too many failed sign-ins; try again later"
    commit_anyway = True
