"""Sign in, sign out and the profile page (tier, change password)."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user

from app.errors import ValidationError
from app.extensions import limiter
from app.forms import ChangePasswordForm, SignInForm
from app.routes.guards import safe_next, signed_in
from app.services.accounts import users

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login():
    """Sign in by email and password, then go to ``next`` when it is a local path (else the dashboard)."""
    form = SignInForm()
    error = None
    if form.validate_on_submit():
        try:
            user = users.authenticate(email=form.email.data, password=form.password.data)
        except ValidationError as exc:
            error = exc.message
        else:
            login_user(user)
            return redirect(safe_next(request.args.get("next")) or url_for("main.index"))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form, error=error), status


@bp.post("/logout")
def logout():
    """Sign out (a POST: CSRFProtect checks its token, so another site cannot sign you out)."""
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/profile", methods=["GET", "POST"])
@signed_in
def profile():
    """The signed-in user's email and tier, and a form to change the password."""
    form = ChangePasswordForm()
    error = None
    if form.validate_on_submit():
        try:
            users.change_password(current_user, current=form.current.data, new=form.new.data)
        except ValidationError as exc:
            error = exc.message
        else:
            flash("password changed")
            return redirect(url_for("auth.profile"))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/profile.html", form=form, error=error), status
