// Builds dist/extension-sluice.js (the extension: one IIFE using the `React` global Argo CD's UI sets,
// no import or export statement, since argocd-server pastes every extension file inside a `try { }`
// block of /extensions.js) and dist/host.js (the browser tests' stand-in for Argo CD's UI: React and
// window.extensionsAPI). Then checks the extension file for what would break Argo CD's UI.
import * as esbuild from 'esbuild';
import {readFileSync, writeFileSync, mkdirSync, rmSync, copyFileSync} from 'node:fs';
import {execFileSync} from 'node:child_process';
import {createHash} from 'node:crypto';

mkdirSync('dist', {recursive: true});
await esbuild.build({
    entryPoints: ['src/extension.tsx'],
    outfile: 'dist/extension-sluice.js',
    bundle: true,
    format: 'iife',
    target: 'es2020',
    // The JSX of src/ calls the global React, as Argo CD's docs require (never bundled).
    jsxFactory: 'React.createElement',
    jsxFragment: 'React.Fragment',
    legalComments: 'none',
    charset: 'utf8',
    logLevel: 'warning',
});
await esbuild.build({
    entryPoints: ['test/host.tsx'],
    outfile: 'dist/host.js',
    bundle: true,
    format: 'iife',
    target: 'es2020',
    jsx: 'transform',
    jsxFactory: 'React.createElement',
    jsxFragment: 'React.Fragment',
    define: {'process.env.NODE_ENV': '"production"'},
    legalComments: 'none',
    logLevel: 'warning',
});
writeFileSync('dist/axe.min.js', readFileSync('node_modules/axe-core/axe.min.js'));

const out = readFileSync('dist/extension-sluice.js', 'utf8');
const problems = [];
if (/^\s*(import|export)\b/m.test(out)) problems.push('an import or export statement');
if (/\brequire\(/.test(out)) problems.push('a require() call');
if (/__SECRET_INTERNALS|react\.production|ReactCurrentOwner/.test(out)) problems.push('a bundled copy of React');
if (problems.length) {
    console.error(`dist/extension-sluice.js has ${problems.join(', ')}: Argo CD pastes it inside try { }`);
    process.exit(1);
}
// The release asset argocd-extension-installer downloads: a tar with resources/<dir>/extension*.js, and
// its checksum file (sha256sum's format). Made reproducible: sorted, owner 0, mtime 0.
rmSync('dist/tar', {recursive: true, force: true});
mkdirSync('dist/tar/resources/sluice', {recursive: true});
copyFileSync('dist/extension-sluice.js', 'dist/tar/resources/sluice/extension-sluice.js');
execFileSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-cf', '../extension-sluice.tar', 'resources'], {cwd: 'dist/tar'});
rmSync('dist/tar', {recursive: true, force: true});
const sum = createHash('sha256').update(readFileSync('dist/extension-sluice.tar')).digest('hex');
writeFileSync('dist/extension-sluice_checksums.txt', `${sum}  extension-sluice.tar\n`);
console.log(`dist/extension-sluice.js: ${out.length} bytes; dist/extension-sluice.tar sha256 ${sum}`);
