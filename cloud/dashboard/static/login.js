// Login: the double-submit CSRF cookie set with this page is repeated in a header.
const form = document.getElementById("login");
const error = document.getElementById("login-error");

function cookie(name) {
  const match = document.cookie.split("; ").find((c) => c.startsWith(`${name}=`));
  return match ? decodeURIComponent(match.slice(name.length + 1)) : "";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.hidden = true;
  const response = await fetch("/api/v1/login", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": cookie("iiot_login_csrf") },
    body: JSON.stringify({
      username: document.getElementById("username").value,
      password: document.getElementById("password").value,
    }),
  }).catch(() => null);
  if (response && response.ok) {
    window.location.assign("/");
    return;
  }
  const body = response ? await response.json().catch(() => null) : null;
  error.textContent = !response ? "Cannot reach the server." : body && typeof body.detail === "string" ? body.detail : "Check user and password.";
  error.hidden = false;
});
