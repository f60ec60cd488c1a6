// presensi dashboard: small progressive touches; every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Today's board refreshes itself every minute while nobody is typing in it.
  if (location.pathname === "/dashboard/today" && !new URLSearchParams(location.search).has("day")) {
    setInterval(() => {
      const active = document.activeElement;
      if (!active || !["INPUT", "SELECT"].includes(active.tagName)) location.reload();
    }, 60000);
  }
  // A write form cannot be sent twice by a double click.
  for (const form of document.querySelectorAll("form[method='post']")) {
    form.addEventListener("submit", () => {
      for (const button of form.querySelectorAll("button[type='submit']")) button.disabled = true;
    });
  }
});
