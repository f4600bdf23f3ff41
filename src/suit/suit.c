/* suit.c: catalogue reader (libxml2, no network, no entities), evaluation and
 * the extend-report transformation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "suit/suit.h"

#define DSSC_NS "urn:ietf:params:xml:ns:dssc"
#define SIEGEL_NS "urn:siegel:catalogue:1"
#define XML_OPTS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA)

static int is_el(const xmlNode *n, const char *ns, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0 &&
		(ns == NULL || (n->ns && strcmp((const char *)n->ns->href, ns) == 0));
}

static void text_of(char *out, size_t cap, const xmlNode *n)
{
	xmlChar *t = xmlNodeGetContent(n);
	const char *s = t ? (const char *)t : "";
	while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
		s++;
	snprintf(out, cap, "%s", s);
	size_t l = strlen(out);
	while (l && (out[l - 1] == ' ' || out[l - 1] == '\n' || out[l - 1] == '\t' || out[l - 1] == '\r'))
		out[--l] = 0;
	xmlFree(t);
}

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ"; end_of_day for inclusive ends. */
static int parse_date(int64_t *out, const char *s, int end_of_day)
{
	struct tm tm = { 0 };
	int Y, M, D, h = 0, m = 0, sec = 0;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &Y, &M, &D, &h, &m, &sec) < 3)
		return SIEGEL_E_PARSE;
	if (M < 1 || M > 12 || D < 1 || D > 31)
		return SIEGEL_E_PARSE;
	tm.tm_year = Y - 1900;
	tm.tm_mon = M - 1;
	tm.tm_mday = D;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	*out = (int64_t)timegm(&tm);
	if (end_of_day && strchr(s, 'T') == NULL)
		*out += 86399;
	return 0;
}

void suit_catalogue_free(struct suit_catalogue *c)
{
	if (c == NULL)
		return;
	free(c->algs);
	memset(c, 0, sizeof(*c));
}

static int load_eval(struct suit_eval *e, const xmlNode *ev, const char *alg,
	struct siegel_diag *d)
{
	memset(e, 0, sizeof(*e));
	char buf[128];
	for (const xmlNode *n = ev->children; n; n = n->next) {
		if (is_el(n, DSSC_NS, "Parameter")) {
			xmlChar *nm = xmlGetProp(n, BAD_CAST "name");
			snprintf(e->param, sizeof(e->param), "%s", nm ? (const char *)nm : "");
			xmlFree(nm);
			for (const xmlNode *p = n->children; p; p = p->next) {
				if (is_el(p, DSSC_NS, "Min")) {
					text_of(buf, sizeof(buf), p);
					e->min = strtol(buf, NULL, 10);
					e->has_min = 1;
				} else if (is_el(p, DSSC_NS, "Max")) {
					text_of(buf, sizeof(buf), p);
					e->max = strtol(buf, NULL, 10);
					e->has_max = 1;
				}
			}
		} else if (is_el(n, DSSC_NS, "Validity")) {
			for (const xmlNode *p = n->children; p; p = p->next) {
				if (is_el(p, DSSC_NS, "Start")) {
					text_of(buf, sizeof(buf), p);
					if (parse_date(&e->start, buf, 0))
						return siegel_fail(d, SIEGEL_E_PARSE,
							"catalogue: %s: bad Validity/Start \"%s\"", alg, buf);
					e->has_start = 1;
				} else if (is_el(p, DSSC_NS, "End")) {
					text_of(buf, sizeof(buf), p);
					if (parse_date(&e->end, buf, 1))
						return siegel_fail(d, SIEGEL_E_PARSE,
							"catalogue: %s: bad Validity/End \"%s\"", alg, buf);
					e->has_end = 1;
				}
			}
		} else if (is_el(n, SIEGEL_NS, "Source")) {
			xmlChar *a = xmlGetProp(n, BAD_CAST "name");
			xmlChar *v = xmlGetProp(n, BAD_CAST "version");
			xmlChar *r = xmlGetProp(n, BAD_CAST "recommendation");
			snprintf(e->source, sizeof(e->source), "%s", a ? (const char *)a : "");
			snprintf(e->version, sizeof(e->version), "%s", v ? (const char *)v : "");
			snprintf(e->recommendation, sizeof(e->recommendation), "%s", r ? (const char *)r : "");
			xmlFree(a);
			xmlFree(v);
			xmlFree(r);
		}
	}
	if (!e->source[0])
		return siegel_fail(d, SIEGEL_E_PARSE,
			"catalogue: %s: every Evaluation needs a siegel:Source with name and version", alg);
	return 0;
}

int suit_catalogue_load(struct suit_catalogue *c, const char *path, struct siegel_diag *d)
{
	memset(c, 0, sizeof(*c));
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = siegel_read_file(&buf, &len, path, SUIT_MAX_CATALOGUE, d);
	if (rc)
		return rc;
	xmlDocPtr doc = xmlReadMemory((const char *)buf, (int)len, "catalogue.xml", NULL, XML_OPTS);
	free(buf);
	if (doc == NULL)
		return siegel_fail(d, SIEGEL_E_PARSE, "%s: not well-formed XML", path);
	xmlNode *root = xmlDocGetRootElement(doc);
	if (!is_el(root, DSSC_NS, "SecuritySuitabilityPolicy")) {
		xmlFreeDoc(doc);
		return siegel_fail(d, SIEGEL_E_PARSE,
			"%s: root element must be dssc:SecuritySuitabilityPolicy (RFC 5698)", path);
	}
	c->algs = calloc(SUIT_MAX_ALGS, sizeof(*c->algs));
	if (c->algs == NULL) {
		xmlFreeDoc(doc);
		return SIEGEL_E_NOMEM;
	}
	char tb[128];
	for (xmlNode *n = root->children; n && rc == 0; n = n->next) {
		if (is_el(n, DSSC_NS, "PolicyName") || is_el(n, DSSC_NS, "Publisher")) {
			for (xmlNode *p = n->children; p; p = p->next)
				if (is_el(p, DSSC_NS, "Name"))
					text_of(is_el(n, DSSC_NS, "PolicyName") ? c->name : c->publisher,
						sizeof(c->name), p);
		} else if (is_el(n, DSSC_NS, "PolicyIssueDate")) {
			text_of(tb, sizeof(tb), n);
			if (parse_date(&c->issue_date, tb, 0))
				rc = siegel_fail(d, SIEGEL_E_PARSE, "%s: bad PolicyIssueDate", path);
		} else if (is_el(n, DSSC_NS, "NextUpdate")) {
			text_of(tb, sizeof(tb), n);
			if (parse_date(&c->next_update, tb, 0))
				rc = siegel_fail(d, SIEGEL_E_PARSE, "%s: bad NextUpdate", path);
			c->has_next_update = 1;
		} else if (is_el(n, DSSC_NS, "Algorithm")) {
			if (c->n_algs >= SUIT_MAX_ALGS) {
				rc = siegel_fail(d, SIEGEL_E_LIMIT, "%s: more than %d algorithms", path,
					SUIT_MAX_ALGS);
				break;
			}
			struct suit_alg *a = &c->algs[c->n_algs++];
			for (xmlNode *p = n->children; p && rc == 0; p = p->next) {
				if (is_el(p, DSSC_NS, "AlgorithmIdentifier")) {
					for (xmlNode *q = p->children; q; q = q->next) {
						if (is_el(q, DSSC_NS, "Name"))
							text_of(a->name, sizeof(a->name), q);
						else if (is_el(q, DSSC_NS, "ObjectIdentifier") &&
							 a->n_oids < SUIT_MAX_OIDS)
							text_of(a->oids[a->n_oids++], sizeof(a->oids[0]), q);
					}
				} else if (is_el(p, DSSC_NS, "Evaluation")) {
					if (a->n_evals >= SUIT_MAX_EVALS) {
						rc = siegel_fail(d, SIEGEL_E_LIMIT, "%s: %s: more than %d evaluations",
							path, a->name, SUIT_MAX_EVALS);
						break;
					}
					rc = load_eval(&a->evals[a->n_evals++], p, a->name, d);
				}
			}
			if (rc == 0 && (a->n_oids == 0 || a->n_evals == 0))
				rc = siegel_fail(d, SIEGEL_E_PARSE,
					"%s: algorithm \"%s\" needs an ObjectIdentifier and an Evaluation", path,
					a->name);
		}
	}
	xmlFreeDoc(doc);
	if (rc == 0 && c->n_algs == 0)
		rc = siegel_fail(d, SIEGEL_E_PARSE, "%s: no dssc:Algorithm entries", path);
	if (rc)
		suit_catalogue_free(c);
	return rc;
}

const struct suit_alg *suit_find(const struct suit_catalogue *c, const char *oid)
{
	for (size_t i = 0; i < c->n_algs; i++)
		for (size_t k = 0; k < c->algs[i].n_oids; k++)
			if (strcmp(c->algs[i].oids[k], oid) == 0)
				return &c->algs[i];
	return NULL;
}

static void day(char out[11], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

enum suit_verdict suit_evaluate(const struct suit_catalogue *c, const char *oid, long param,
	int64_t t, char *src_out, size_t src_cap)
{
	if (src_out && src_cap)
		src_out[0] = 0;
	const struct suit_alg *a = suit_find(c, oid);
	if (a == NULL)
		return SUIT_UNKNOWN;
	/* per source: suitable if one of its applicable evaluations covers t */
	const char *srcs[SUIT_MAX_EVALS];
	size_t ns = 0;
	for (size_t i = 0; i < a->n_evals; i++) {
		size_t k;
		for (k = 0; k < ns; k++)
			if (strcmp(srcs[k], a->evals[i].source) == 0)
				break;
		if (k == ns)
			srcs[ns++] = a->evals[i].source;
	}
	int any = 0, all = 1;
	size_t o = 0;
	for (size_t k = 0; k < ns; k++) {
		int applicable = 0, ok = 0;
		const struct suit_eval *best = NULL;
		for (size_t i = 0; i < a->n_evals; i++) {
			const struct suit_eval *e = &a->evals[i];
			if (strcmp(e->source, srcs[k]) != 0)
				continue;
			if (e->param[0] && ((e->has_min && param < e->min) || (e->has_max && param > e->max)))
				continue;
			applicable = 1;
			best = best ? best : e;
			if ((!e->has_start || t >= e->start) && (!e->has_end || t <= e->end)) {
				ok = 1;
				best = e;
			}
		}
		if (!applicable)
			continue;
		any = 1;
		all &= ok;
		if (src_out && o + 1 < src_cap) {
			char until[40] = "no end";
			if (best && best->has_end) {
				char dd[11];
				day(dd, best->end);
				snprintf(until, sizeof(until), "until %s", dd);
			}
			int w = snprintf(src_out + o, src_cap - o, "%s%s %s: %s (%s%s%s)", o ? "; " : "",
				best->source, best->version, ok ? "suitable" : "unsuitable", until,
				best->recommendation[0] ? ", " : "", best->recommendation[0] == 'L' ?
				"legacy" : best->recommendation[0] == 'R' ? "recommended" : "");
			if (w > 0)
				o += (size_t)w < src_cap - o ? (size_t)w : src_cap - o - 1;
		}
	}
	if (!any)
		return SUIT_UNKNOWN;
	return all ? SUIT_SUITABLE : SUIT_UNSUITABLE;
}

/* ---- extend-report ---- */

static xmlNode *child(xmlNode *n, const char *name)
{
	for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
		if (is_el(c, NULL, name))
			return c;
	return NULL;
}

static const struct {
	const char *ha;
	const char *oid;
	const char *name;
} hashes[] = {
	{ "haSHA1", "1.3.14.3.2.26", "SHA-1" },
	{ "haSHA224", "2.16.840.1.101.3.4.2.4", "SHA-224" },
	{ "haSHA256", "2.16.840.1.101.3.4.2.1", "SHA-256" },
	{ "haSHA384", "2.16.840.1.101.3.4.2.2", "SHA-384" },
	{ "haSHA512", "2.16.840.1.101.3.4.2.3", "SHA-512" },
	{ "haSHA3_256", "2.16.840.1.101.3.4.2.8", "SHA3-256" },
	{ "haSHA3_384", "2.16.840.1.101.3.4.2.9", "SHA3-384" },
	{ "haSHA3_512", "2.16.840.1.101.3.4.2.10", "SHA3-512" },
	{ "haRIPEMD160", "1.3.36.3.2.1", "RIPEMD-160" },
	{ "haMD5", "1.2.840.113549.2.5", "MD5" },
};

#define OID_RSA "1.2.840.113549.1.1.1"
#define OID_PSS "1.2.840.113549.1.1.10"
#define OID_ECDSA "1.2.840.10045.2.1"

static void iso(char out[21], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int report_time(int64_t *out, xmlNode *n)
{
	char b[64];
	if (n == NULL)
		return SIEGEL_E_NOTFOUND;
	text_of(b, sizeof(b), n);
	return parse_date(out, b, 0);
}

static void add_alg(xmlNode *suit, const struct suit_catalogue *c, const char *kind,
	const char *name, const char *oid, const char *param, long value, int64_t sign_t,
	int64_t now, int *worst, int *all_sign, int *all_now)
{
	xmlNode *a = xmlNewChild(suit, NULL, BAD_CAST "Algorithm", NULL);
	xmlNewProp(a, BAD_CAST "Kind", BAD_CAST kind);
	xmlNewProp(a, BAD_CAST "Name", BAD_CAST name);
	xmlNewProp(a, BAD_CAST "OID", BAD_CAST oid);
	char vb[32];
	if (param && param[0]) {
		xmlNewProp(a, BAD_CAST "Parameter", BAD_CAST param);
		snprintf(vb, sizeof(vb), "%ld", value);
		xmlNewProp(a, BAD_CAST "Value", BAD_CAST vb);
	}
	char src_s[600], src_n[600];
	enum suit_verdict vs = suit_evaluate(c, oid, value, sign_t, src_s, sizeof(src_s));
	enum suit_verdict vn = suit_evaluate(c, oid, value, now, src_n, sizeof(src_n));
	const char *s1 = vs == SUIT_SUITABLE ? "1" : vs == SUIT_UNSUITABLE ? "0" : "unknown";
	const char *s2 = vn == SUIT_SUITABLE ? "1" : vn == SUIT_UNSUITABLE ? "0" : "unknown";
	xmlNewTextChild(a, NULL, BAD_CAST "AtSignDate", BAD_CAST s1);
	xmlNewTextChild(a, NULL, BAD_CAST "Now", BAD_CAST s2);
	xmlNewTextChild(a, NULL, BAD_CAST "Sources", BAD_CAST (src_n[0] ? src_n :
		"not in the catalogue"));
	if (vs != SUIT_SUITABLE)
		*all_sign = 0;
	if (vn != SUIT_SUITABLE)
		*all_now = 0;
	if (vs == SUIT_UNKNOWN || vn == SUIT_UNKNOWN)
		*worst = -1;
	else if ((vs == SUIT_UNSUITABLE || vn == SUIT_UNSUITABLE) && *worst > 0)
		*worst = 0;
}

static void extend_sig(xmlNode *sig, const struct suit_catalogue *c, int64_t now, int stale,
	int *worst)
{
	/* drop an earlier extension */
	for (xmlNode *n = sig->children; n;) {
		xmlNode *next = n->next;
		if (is_el(n, NULL, "Suitability")) {
			xmlUnlinkNode(n);
			xmlFreeNode(n);
		}
		n = next;
	}
	int64_t sign_t = now;
	if (report_time(&sign_t, child(sig, "SignDate")) != 0)
		sign_t = now;
	xmlNode *suit = xmlNewChild(sig, NULL, BAD_CAST "Suitability", NULL);
	xmlNewProp(suit, BAD_CAST "Catalogue", BAD_CAST c->name);
	char t[21];
	iso(t, c->issue_date);
	xmlNewProp(suit, BAD_CAST "CatalogueIssueDate", BAD_CAST t);
	if (c->has_next_update) {
		iso(t, c->next_update);
		xmlNewProp(suit, BAD_CAST "CatalogueNextUpdate", BAD_CAST t);
	}
	iso(t, now);
	xmlNewProp(suit, BAD_CAST "EvaluatedAt", BAD_CAST t);
	int all_sign = 1, all_now = 1;
	/* hash */
	char ha[32];
	xmlNode *hn = child(sig, "HashAlgorithmSignature");
	if (hn)
		text_of(ha, sizeof(ha), hn);
	else
		ha[0] = 0;
	const char *hoid = NULL, *hname = ha;
	for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++)
		if (strcmp(hashes[i].ha, ha) == 0) {
			hoid = hashes[i].oid;
			hname = hashes[i].name;
		}
	add_alg(suit, c, "hash", hname[0] ? hname : "unknown", hoid ? hoid : "0.0", NULL, 0,
		sign_t, now, worst, &all_sign, &all_now);
	/* signature scheme and key from the certificate */
	char sigoid[96] = "";
	xmlNode *sa = child(sig, "SignatureAlgorithm");
	if (sa) {
		xmlChar *o = xmlGetProp(sa, BAD_CAST "OID");
		snprintf(sigoid, sizeof(sigoid), "%s", o ? (const char *)o : "");
		xmlFree(o);
	}
	int key_id = 0, bits = 0;
	xmlNode *data = child(child(child(sig, "Certificate"), "Content"), "Data");
	if (data) {
		xmlChar *b64 = xmlNodeGetContent(data);
		uint8_t *der = NULL;
		size_t dl = 0;
		if (b64 && siegel_b64_decode(&der, &dl, (const char *)b64, strlen((const char *)b64), 1) == 0) {
			const unsigned char *p = der;
			X509 *x = d2i_X509(NULL, &p, (long)dl);
			EVP_PKEY *pk = x ? X509_get0_pubkey(x) : NULL;
			if (pk) {
				key_id = EVP_PKEY_get_base_id(pk);
				bits = EVP_PKEY_get_bits(pk);
			}
			X509_free(x);
		}
		free(der);
		xmlFree(b64);
		ERR_clear_error();
	}
	if (strcmp(sigoid, OID_PSS) == 0 || key_id == EVP_PKEY_RSA_PSS)
		add_alg(suit, c, "signature", "RSASSA-PSS", OID_PSS, "moduluslength", bits, sign_t, now,
			worst, &all_sign, &all_now);
	else if (key_id == EVP_PKEY_RSA)
		add_alg(suit, c, "signature", "RSA (PKCS#1 v1.5)", OID_RSA, "moduluslength", bits,
			sign_t, now, worst, &all_sign, &all_now);
	else if (key_id == EVP_PKEY_EC)
		add_alg(suit, c, "signature", "ECDSA", OID_ECDSA, "orderlength", bits, sign_t, now,
			worst, &all_sign, &all_now);
	else
		add_alg(suit, c, "signature", "unknown", sigoid[0] ? sigoid : "0.0", NULL, 0, sign_t,
			now, worst, &all_sign, &all_now);
	xmlNewTextChild(suit, NULL, BAD_CAST "SuitableAtSignDate", BAD_CAST (all_sign ? "1" : "0"));
	xmlNewTextChild(suit, NULL, BAD_CAST "SuitableNow", BAD_CAST (all_now ? "1" : "0"));
	if (stale) {
		char w[200], nu[21];
		iso(nu, c->next_update);
		snprintf(w, sizeof(w), "the algorithm catalogue is out of date (next update was due %s)",
			nu);
		xmlNewTextChild(suit, NULL, BAD_CAST "Warning", BAD_CAST w);
	}
}

int suit_extend_report(struct siegel_buf *out, int *worst_out, int *stale_out,
	const uint8_t *xml, size_t xml_len, const struct suit_catalogue *c, int64_t now,
	struct siegel_diag *d)
{
	*worst_out = 1;
	if (xml_len > SUIT_MAX_REPORT)
		return siegel_fail(d, SIEGEL_E_LIMIT, "report: %zu bytes, limit %u", xml_len,
			SUIT_MAX_REPORT);
	xmlDocPtr doc = xmlReadMemory((const char *)xml, (int)xml_len, "report.xml", NULL,
		XML_OPTS | XML_PARSE_NOBLANKS);
	if (doc == NULL)
		return siegel_fail(d, SIEGEL_E_PARSE, "report: not well-formed XML");
	xmlNode *root = xmlDocGetRootElement(doc);
	xmlNode *sigs = is_el(root, NULL, "Report") ? child(root, "Signatures") : NULL;
	if (sigs == NULL) {
		xmlFreeDoc(doc);
		return siegel_fail(d, SIEGEL_E_PARSE, "report: no Report/Signatures element");
	}
	int stale = c->has_next_update && now > c->next_update;
	if (stale_out)
		*stale_out = stale;
	for (xmlNode *n = sigs->children; n; n = n->next)
		if (is_el(n, NULL, "Signature"))
			extend_sig(n, c, now, stale, worst_out);
	xmlChar *mem = NULL;
	int ml = 0;
	xmlDocDumpFormatMemoryEnc(doc, &mem, &ml, "UTF-8", 1);
	xmlFreeDoc(doc);
	if (mem == NULL)
		return SIEGEL_E_NOMEM;
	siegel_buf_append(out, mem, (size_t)ml);
	xmlFree(mem);
	return out->err ? SIEGEL_E_NOMEM : 0;
}
