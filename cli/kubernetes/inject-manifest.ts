import { isCollection, isMap, isScalar, isSeq, parseAllDocuments, visit, YAMLSeq, type Document, type Node } from 'yaml';
import { SIDECAR_DEFAULTS } from '../modes/sidecar-defaults';
import { ANNOTATIONS } from './injection-annotations';
import { decideInjection } from './injection-decision';
import { decideRegistration, type PodRegistration } from './registration-decision';
import { initContainer, proxyContainer, type SidecarSettings } from './sidecar-containers';
import { podTemplatePath } from './workload-kinds';

/** The input is not YAML, or a workload's meshlet annotations are invalid: nothing is written. */
export class ManifestError extends Error {}

export interface InjectResult {
  /** The manifests, injected; every other document as it was, byte for byte. */
  readonly output: string;
  /** One line per workload skipped or needing the operator's attention, for stderr. */
  readonly notes: readonly string[];
}

/**
 * `meshlet inject`: adds the meshlet init container and sidecar to every workload's pod in a
 * multi-document YAML stream. A document that changes is re-serialized from its syntax tree, so
 * its comments and key order stay; the others are copied from the input untouched.
 * @throws ManifestError naming the document and position of the first YAML error, or the
 *   workload and annotation that cannot work
 */
export function injectManifests(text: string, settings: SidecarSettings): InjectResult {
  const parsed = parseAllDocuments(text);
  if (!Array.isArray(parsed)) return { output: text, notes: [] };
  const documents: Document[] = parsed;
  documents.forEach((doc, i) => {
    const [error] = doc.errors;
    if (error !== undefined) throw new ManifestError(`document ${i + 1} is not valid YAML: ${error.message}`);
  });

  const notes: string[] = [];
  let output = '';
  let copiedUpTo = 0;
  for (const doc of documents) {
    // Parsed documents have their source range: [start, value end, node end].
    const end = doc.range![2];
    const source = text.slice(copiedUpTo, end);
    output += injectDocument(doc, settings, notes) ? doc.toString({ lineWidth: 0, indentSeq: indentsSequences(source), flowCollectionPadding: false }) : source;
    copiedUpTo = end;
  }
  return { output: output + text.slice(copiedUpTo), notes };
}

/** Injects one document in place if it is a workload to inject; returns whether it changed. */
function injectDocument(doc: Document, settings: SidecarSettings, notes: string[]): boolean {
  const value = doc.toJS();
  const path = podTemplatePath(value?.kind);
  if (path === undefined) return false;
  const name = `${value.kind}/${value.metadata?.name ?? value.metadata?.generateName ?? '(unnamed)'}`;
  const template = path.reduce((node, key) => node?.[key], value);
  const decision = decideInjection(value.kind, value, template);
  if ('error' in decision) throw new ManifestError(`${name}: ${decision.error}`);
  if (!decision.inject) {
    notes.push(`${name}: skipped: ${decision.reason}`);
    return false;
  }

  const spec = [...path, 'spec'];
  const containers = doc.getIn([...spec, 'containers']);
  if (!isSeq(containers)) {
    notes.push(`${name}: skipped: its containers are not a plain YAML sequence (an alias?)`);
    return false;
  }
  let registration: PodRegistration | undefined;
  if (settings.register !== undefined) {
    const registering = decideRegistration(value, template, decision.service);
    if ('error' in registering) throw new ManifestError(`${name}: ${registering.error}`);
    registration = registering.register;
    if (registering.note !== undefined) notes.push(`${name}: ${registering.note}`);
  }
  containers.items.unshift(compactNode(doc, proxyContainer(settings, decision.service, registration)));
  sequenceAt(doc, [...spec, 'initContainers']).items.push(compactNode(doc, initContainer(settings, decision.iptablesArgs)));

  const annotations = [...path, 'metadata', 'annotations'];
  ensureMap(doc, annotations);
  doc.setIn([...annotations, ANNOTATIONS.injected], 'true');
  const appContainer = (template.spec.containers as { name?: string }[])[0]?.name;
  if (template.metadata?.annotations?.[ANNOTATIONS.defaultContainer] === undefined && appContainer !== undefined) {
    doc.setIn([...annotations, ANNOTATIONS.defaultContainer], appContainer);
  }
  for (const edited of [[...spec, 'containers'], [...spec, 'initContainers'], annotations]) blockStyle(doc, edited);
  if (decision.runsToCompletion) {
    notes.push(
      `${name}: its pod runs to completion: when done, the app must stop the sidecar with ` +
        `'curl -XPOST http://127.0.0.1:${SIDECAR_DEFAULTS.adminPort}/quitquitquit' (or the pod never completes)`,
    );
  }
  return true;
}

/** A YAML node for `value`, its lists of plain values (args, commands, capabilities) on one line each. */
function compactNode(doc: Document, value: object): Node {
  const node = doc.createNode(value);
  visit(node, {
    Seq(_, seq) {
      if (seq.items.every((item) => isScalar(item))) seq.flow = true;
    },
  });
  return node;
}

/** Block style for the collections along `path`: inside a flow collection, all that was added would print on one line. */
function blockStyle(doc: Document, path: readonly string[]): void {
  for (let depth = 0; depth <= path.length; depth++) {
    const node = doc.getIn(path.slice(0, depth), true);
    if (isCollection(node)) node.flow = false;
  }
}

/** Makes each value along `path` a map where it is missing or null (`metadata:` left empty). */
function ensureMap(doc: Document, path: readonly string[]): void {
  for (let depth = 1; depth <= path.length; depth++) {
    const prefix = path.slice(0, depth);
    if (!isMap(doc.getIn(prefix))) doc.setIn(prefix, doc.createNode({}));
  }
}

/** The sequence at `path`, made (replacing a null or a missing value) if needed. */
function sequenceAt(doc: Document, path: readonly string[]): YAMLSeq {
  const node = doc.getIn(path);
  if (isSeq(node)) return node;
  const seq = new YAMLSeq(doc.schema);
  doc.setIn(path, seq);
  return seq;
}

/**
 * Whether the document indents block sequences under their key (`key:\n  - a`) or not
 * (`key:\n- a`, as kubectl writes them): the first such sequence decides, so an injected
 * document keeps the style it was written in.
 */
export function indentsSequences(source: string): boolean {
  const match = /^( *)[^\s#-][^\n]*:[ \t]*\n\1( *)- /m.exec(source);
  return match !== null && match[2]!.length > 0;
}
