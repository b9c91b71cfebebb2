"""Rotating and revoking the caller's API token (chatbot.api.tokens)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .base import ChatAPIMixin, request_user
from .tokens import api_token_revoke, api_token_rotate, token_expires_at

_TokenSerializer = inline_serializer(
    "ApiToken", {"token": serializers.CharField(), "expires_at": serializers.DateTimeField(allow_null=True)}
)


class TokenRotateView(ChatAPIMixin, APIView):
    @extend_schema(
        summary="Replace the caller's API token (the old key stops working at once)",
        request=None,
        responses={201: _TokenSerializer},
    )
    def post(self, request: Request) -> Response:
        token = api_token_rotate(request_user(request))
        body = {"token": token.key, "expires_at": token_expires_at(token)}
        return Response(body, status=status.HTTP_201_CREATED)


class TokenRevokeView(ChatAPIMixin, APIView):
    @extend_schema(summary="Revoke the caller's API token", request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        api_token_revoke(request_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
