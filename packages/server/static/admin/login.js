/* global URLSearchParams */
// Shows the refusal message after a failed login (/admin/login?failed=1).
if (new URLSearchParams(window.location.search).has('failed')) document.getElementById('failed').hidden = false;
