// Copy buttons of the staff console: <button data-copy="ID" hidden> next to a read-only input.
// Without JavaScript the button stays hidden and the link is plain selectable text; this file
// is served from the portal itself because the CSP refuses inline and third-party scripts.
(function () {
  "use strict";

  function copied(button) {
    var label = button.textContent;
    button.textContent = "Copied";
    window.setTimeout(function () { button.textContent = label; }, 2000);
  }

  function copy(input, button) {
    input.focus();
    input.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(function () { copied(button); },
        function () { if (document.execCommand("copy")) { copied(button); } });
    } else if (document.execCommand("copy")) {
      copied(button);
    }
  }

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var input = document.getElementById(button.getAttribute("data-copy"));
    if (!input) { return; }
    button.hidden = false;
    button.addEventListener("click", function () { copy(input, button); });
    input.addEventListener("focus", function () { input.select(); });
  });
}());
