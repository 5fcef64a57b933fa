// Starts the vendored Scalar API reference on /openapi.json, offline: no
// web fonts, no telemetry, no Scalar cloud features, no proxy. "Try it"
// sends requests to this gateway with the API key, taken from the console's
// sign-in (same origin, sessionStorage "fgw.key") when there is one; a key
// typed into the reference's auth field is kept in localStorage (persistAuth).
(function () {
  "use strict";
  var key = "";
  try {
    key = window.sessionStorage.getItem("fgw.key") || "";
  } catch (e) {
    // Storage blocked (private mode, sandboxed frame): type the key instead.
  }
  var auth = { preferredSecurityScheme: "default" };
  if (key) {
    auth.securitySchemes = { default: { token: key } };
  }
  window.Scalar.createApiReference("#app", {
    url: "/openapi.json",
    baseServerURL: window.location.origin,
    servers: [{ url: window.location.origin, description: "This gateway" }],
    authentication: auth,
    persistAuth: true,
    withDefaultFonts: false,
    telemetry: false,
    agent: { disabled: true },
    hideClientButton: true,
    showDeveloperTools: "never",
    showToolbar: "never",
    documentDownloadType: "json",
  });
})();
