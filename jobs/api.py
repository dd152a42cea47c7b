"""What the staff API actions of every app share: token (or staff session) authentication, staff
only, and the documented refusals. Each action queues its app's work through
``jobs.services.task_dispatch``."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers
from rest_framework.authentication import TokenAuthentication
from rest_framework.permissions import IsAdminUser
from rest_framework.views import APIView

from animesite.authentication import SessionAuthentication

DETAIL = inline_serializer(name="StaffActionDetail", fields={"detail": serializers.CharField()})
DENIED = {
    401: OpenApiResponse(DETAIL, "No or a bad token."),
    403: OpenApiResponse(DETAIL, "Signed in, but not staff."),
}


class StaffAction(APIView):
    # Token first: a script without (or with a bad) token gets 401 and a WWW-Authenticate
    # challenge; a signed-in user who is not staff gets 403.
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [IsAdminUser]
