// The expr code view: a CodeMirror 6 editor on every <textarea data-code>, kept in sync
// with the textarea so forms submit without JavaScript-specific code.
import { EditorView, basicSetup } from "codemirror";

// CodeMirror injects its styles as <style> elements; the Content-Security-Policy admits
// them by the page's nonce (handlers/middleware.go).
const nonce = document.querySelector('meta[name="csp-nonce"]')?.content || "";

for (const area of document.querySelectorAll("textarea[data-code]")) {
  const view = new EditorView({
    doc: area.value,
    extensions: [
      basicSetup,
      EditorView.cspNonce.of(nonce),
      EditorView.lineWrapping,
      EditorView.updateListener.of((u) => {
        if (u.docChanged) {
          area.value = u.state.doc.toString();
          area.dispatchEvent(new Event("input", { bubbles: true }));
        }
      }),
      EditorView.contentAttributes.of({ "aria-label": area.getAttribute("aria-label") || area.name }),
    ],
  });
  area.hidden = true;
  area.insertAdjacentElement("afterend", view.dom);
}
