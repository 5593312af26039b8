#!/usr/bin/env node
// Typeset TeX strings with MathJax 3 (mathjax-full) under Node and report every error.
//
// Input (JSON on stdin):
//   {"macros": {"R": "\\mathbb{R}", "KL": ["...", 2], ...},
//    "items": [{"name": "sgd", "tex": "...", "display": true}, ...]}
// Output (JSON on stdout): [{"name": "sgd", "errors": ["..."]}, ...], one entry per
// item, in order; an empty "errors" list means the item typeset cleanly.
// With `--svg DIR`, each item is also written as DIR/<name>.svg to look at.
//
// The TeX input loads only the packages the book's pages get from MathJax 3 without
// autoloading (base, ams, newcommand, configmacros), and neither `noerrors` nor
// `noundefined`: an undefined macro or a TeX syntax error is an error here, where
// in a browser it would be shown as red text.
//
// The directory holding node_modules/mathjax-full is taken from MATHJAX_PREFIX
// (default: <repository>/.cache/mathjax), where tests/test_latex.py installs it.
'use strict';

const fs = require('fs');
const path = require('path');

const prefix = process.env.MATHJAX_PREFIX || path.join(__dirname, '..', '..', '.cache', 'mathjax');
const modules = path.join(prefix, 'node_modules', 'mathjax-full', 'js');
const load = (name) => require(path.join(modules, name));

const {mathjax} = load('mathjax.js');
const {TeX} = load('input/tex.js');
const {SVG} = load('output/svg.js');
const {liteAdaptor} = load('adaptors/liteAdaptor.js');
const {RegisterHTMLHandler} = load('handlers/html.js');
const {STATE} = load('core/MathItem.js');
load('input/tex/base/BaseConfiguration.js');
load('input/tex/ams/AmsConfiguration.js');
load('input/tex/newcommand/NewcommandConfiguration.js');
load('input/tex/configmacros/ConfigMacrosConfiguration.js');

function main() {
  const args = process.argv.slice(2);
  const svgIndex = args.indexOf('--svg');
  const svgDir = svgIndex >= 0 ? args[svgIndex + 1] : null;
  const request = JSON.parse(fs.readFileSync(0, 'utf8'));

  const adaptor = liteAdaptor();
  RegisterHTMLHandler(adaptor);
  const tex = new TeX({
    packages: ['base', 'ams', 'newcommand', 'configmacros'],
    macros: request.macros || {},
    // Throw instead of building an <merror> node (red text in a browser), so that the
    // message is reported.
    formatError: (jax, err) => { throw err; },
  });
  const svg = new SVG({fontCache: 'none'});
  const doc = mathjax.document('', {InputJax: tex, OutputJax: svg});

  const results = request.items.map((item) => {
    const errors = [];
    try {
      const display = item.display !== false;
      // Parsing to the internal MathML is where every TeX error is raised (formatError).
      doc.convert(item.tex, {display, end: STATE.COMPILED});
      if (svgDir) {
        fs.mkdirSync(svgDir, {recursive: true});
        const node = doc.convert(item.tex, {display});
        fs.writeFileSync(path.join(svgDir, item.name + '.svg'), adaptor.innerHTML(node));
      }
    } catch (err) {
      errors.push(String(err && err.message ? err.message : err));
    }
    return {name: item.name, errors};
  });
  process.stdout.write(JSON.stringify(results));
}

main();
