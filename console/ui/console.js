// Copies the token of an e-mailed link (…#token=…) into the form's hidden
// field, then takes it out of the address bar and the history. Fragments
// never reach a server; this is the console's only script.
(function () {
  var field = document.getElementById("token");
  var params = new URLSearchParams(window.location.hash.slice(1));
  var token = params.get("token");
  if (!field || !token) {
    var missing = document.getElementById("no-token");
    if (missing) { missing.hidden = false; }
    return;
  }
  field.value = token;
  history.replaceState(null, "", window.location.pathname);
})();
