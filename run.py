"""WSGI entry point: ``flask --app run ...`` or any WSGI server loads ``app`` from here."""

from app import create_app

app = create_app()
