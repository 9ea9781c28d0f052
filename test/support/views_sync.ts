/**
 * The parse functions of lib/one/views.ts without the promise, for tests that build views from
 * fixtures in synchronous code: the same document names in errors, the same views, built on
 * `parseXmlSync` (which loads saxes up front; driver actions do not).
 */
import { DatastoreView, DsActionView, VmmActionView, VmView } from "../../lib/one/views.ts";
import { parseXmlSync } from "../../lib/one/xml_saxes.ts";

/** `parseVm` without the promise. */
export function parseVmSync(xml: string): VmView {
  return new VmView(parseXmlSync(xml, "VM XML"));
}

/** `parseDatastore` without the promise. */
export function parseDatastoreSync(xml: string): DatastoreView {
  return new DatastoreView(parseXmlSync(xml, "DATASTORE XML"));
}

/** `parseDsAction` without the promise. */
export function parseDsActionSync(xml: string): DsActionView {
  return new DsActionView(parseXmlSync(xml, "DS_DRIVER_ACTION_DATA"));
}

/** `parseVmmAction` without the promise. */
export function parseVmmActionSync(xml: string): VmmActionView {
  return new VmmActionView(parseXmlSync(xml, "VMM_DRIVER_ACTION_DATA"));
}
