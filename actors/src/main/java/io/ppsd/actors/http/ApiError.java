package io.ppsd.actors.http;

import io.ppsd.actors.protocol.FailureCode;

/**
 * An error answered in OpenAI's shape ({@code {"error": {"message", "type", "param", "code"}}})
 * with its HTTP status.
 */
record ApiError(int status, String type, String code, String message) {

    static ApiError badRequest(String message) {
        return new ApiError(400, "invalid_request_error", "bad_request", message);
    }

    static ApiError unauthorized() {
        return new ApiError(401, "authentication_error", "invalid_api_key", "a valid API key is required (Authorization: Bearer <key>)");
    }

    static ApiError notFound(String code, String message) {
        return new ApiError(404, "invalid_request_error", code, message);
    }

    static ApiError notReady(String message) {
        return new ApiError(503, "service_unavailable", "not_ready", message);
    }

    /** The HTTP form of a coded failure of the actor API. */
    static ApiError of(FailureCode code, String message) {
        return switch (code == null ? FailureCode.INTERNAL : code) {
            case OVERLOADED -> new ApiError(429, "rate_limit_error", "overloaded", message);
            case BAD_REQUEST -> badRequest(message);
            case CANCELLED -> new ApiError(499, "cancelled", "cancelled", message);
            case DEADLINE -> new ApiError(504, "timeout", "deadline", message);
            case UNAVAILABLE -> new ApiError(503, "service_unavailable", "unavailable", message);
            case INTERNAL -> new ApiError(500, "internal_error", "internal", message);
        };
    }
}
