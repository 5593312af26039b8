// sphinx-book-theme 1.3 draws its own sidebar toggle buttons in the article header,
// but pydata-sphinx-theme (and the book theme's wide-screen fix) bind their click
// handlers with `document.querySelector(".primary-toggle")`, which finds the
// pydata header's button first: a button the book theme hides. So the buttons a
// reader sees do nothing. Forward their clicks to the bound button, whose handlers
// then do the right thing for the width: open the sidebar as a dialog below
// 992 px, collapse or restore it above.
(function () {
  function connect() {
    ["primary", "secondary"].forEach(function (kind) {
      var buttons = Array.prototype.slice.call(document.querySelectorAll("." + kind + "-toggle"));
      var bound = buttons[0];
      buttons.slice(1).forEach(function (button) {
        button.addEventListener("click", function (event) {
          if (bound.offsetParent !== null) return; // the bound button is on screen: nothing to fix
          event.preventDefault();
          event.stopPropagation();
          bound.click();
        });
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", connect);
  } else {
    connect();
  }
})();
