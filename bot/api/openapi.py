"""REST API: the OpenAPI 3.1 document, built from the route table's pydantic models."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from bot import api_models
from bot.api.routes import ROUTES
from bot.services import communications

REF_TEMPLATE = "#/components/schemas/{model}"

RESPONSES: dict[str, type[BaseModel]] = {
    "create_client": api_models.ClientOut,
    "list_clients": api_models.ClientListOut,
    "get_client": api_models.ClientOut,
    "update_client": api_models.ClientOut,
    "deactivate_client": api_models.ClientOut,
    "client_dashboard": api_models.DashboardOut,
    "log_communication": api_models.CommunicationOut,
    "list_communications": api_models.CommunicationListOut,
    "upload_attachments": api_models.AttachmentsOut,
    "submit_feedback": api_models.FeedbackOut,
    "list_feedback": api_models.FeedbackListOut,
    "performance_report": api_models.PerformanceReportOut,
    "list_client_jobs": api_models.JobListOut,
    "link_job": api_models.LinkOut,
    "unlink_job": api_models.LinkOut,
    "create_job": api_models.JobOut,
    "create_candidate": api_models.CandidateOut,
    "create_application": api_models.ApplicationOut,
    "update_application": api_models.ApplicationOut,
    "bulk_operations": api_models.BulkOut,
    "privacy_export": api_models.PrivacyExportOut,
    "privacy_erase": api_models.PrivacyEraseOut,
    "import_clients": api_models.ClientImportOut,
    "get_metrics": api_models.MetricsOut,
}

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        }
    },
}

UPLOAD_SCHEMA = {
    "type": "object",
    "properties": {
        "file": {
            "type": "array",
            "items": {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream"},
            "maxItems": communications.MAX_ATTACHMENTS,
            "description": "One part per file, each at most 10 MB; the type is judged by the content.",
        }
    },
    "required": ["file"],
}

IMPORT_SCHEMA = {
    "type": "object",
    "properties": {
        "file": {
            "type": "string",
            "format": "binary",
            "contentMediaType": "text/csv",
            "description": "The CSV (HubSpot, Salesforce or clientbot columns; UTF-8, UTF-16, Windows-1252; "
            "`,` or `;`), at most 10 MB.",
        },
        "dry_run": {"type": "boolean", "description": "check and report, write nothing"},
        "update": {"type": "boolean", "description": "update duplicates (contacts merged by email)"},
    },
    "required": ["file"],
}
UPLOADS = {"import_clients": IMPORT_SCHEMA}


def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.1 from the routes' pydantic models."""
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template=REF_TEMPLATE, by_alias=True)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    errors = {
        str(code): {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for code, text in (
            (400, "bad request"),
            (401, "no or bad token"),
            (403, "role too low"),
            (404, "not found"),
            (409, "conflict"),
            (413, "body or file too large"),
            (415, "unsupported media type"),
            (422, "invalid fields"),
            (503, "database unavailable"),
        )
    }
    for route in ROUTES:
        operation: dict[str, Any] = {
            "summary": route.summary,
            "operationId": route.handler.__name__,
            "security": [{"bearer": []}],
            "responses": {
                str(route.success): {
                    "description": "success",
                    "content": {"application/json": {"schema": ref(RESPONSES[route.handler.__name__])}},
                },
                **{
                    code: response
                    for code, response in errors.items()
                    if (code != "413" or route.body or route.files) and (code != "415" or route.files)
                },
            },
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in re.findall(r"{(\w+)}", route.path)
            ],
        }
        if route.query is not None:
            # Enums and nested models of a query go to components too, where the parameters' $refs point
            # (pydantic's default `#/$defs/...` would dangle once the properties are taken out of the model).
            query = route.query.model_json_schema(ref_template=REF_TEMPLATE, by_alias=True)
            schemas.update(query.pop("$defs", {}))
            for name, prop in query["properties"].items():
                operation["parameters"].append(
                    {"name": name, "in": "query", "required": False, "schema": prop}
                )
        if route.files:
            operation["requestBody"] = {
                "required": True,
                "content": {
                    "multipart/form-data": {"schema": UPLOADS.get(route.handler.__name__, UPLOAD_SCHEMA)}
                },
            }
        if route.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(route.body)}},
            }
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "clientbot API",
            "version": "1.0.0",
            "description": "Client management for recruitment agencies; tokens: clientbot api-token create.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


async def openapi(_request: web.Request) -> web.Response:
    return web.json_response(openapi_document())
