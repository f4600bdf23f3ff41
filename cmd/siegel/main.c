/* siegel: one binary, subcommands for every service. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "cli.h"
#include "csp/csp.h"

static const char usage[] =
	"siegel - signature services for German businesses (TSE, batch signing, verification)\n"
	"\n"
	"usage: siegel <command> [options]\n"
	"\n"
	"commands:\n"
	"  tse create    create a TSS: key in the token, certificate, admin/timeAdmin PIN+PUK\n"
	"  tse auth      authenticateUser (--user admin|timeAdmin --pin PIN)\n"
	"  tse logout    logOut (--user)\n"
	"  tse unblock   unblockUser (--user --puk PUK --new-pin PIN)\n"
	"  tse init      initialize (--description TEXT); needs admin\n"
	"  tse time      updateTime: synchronise with the time servers (--ntp HOST[:PORT]...)\n"
	"  tse client add|rm ID   registerClient / deregisterClient; needs admin\n"
	"  tse start     startTransaction (--client ID [--type T] [--data-text S|--data-hex H|--data-file F])\n"
	"  tse update    updateTransaction (--client ID --tx N [--type T] [--data-text ...])\n"
	"  tse finish    finishTransaction (--client ID --tx N --type T [--data-text ...]); prints the QR code\n"
	"  tse open      list open transactions\n"
	"  tse status    state, serial number, counters, limits, time\n"
	"  tse last-log  readLogMessage: the last log message (DER to --out FILE, or hex)\n"
	"  tse selftest  self test (logged)\n"
	"  tse disable   disableSecureElement; needs admin\n"
	"  tse list      list the TSS of the data directory\n"
	"  tse csr [--out FILE]   certificate request for the TSS key (only before the first log)\n"
	"  tse import-cert FILE   use a CA-issued chain (PEM: leaf, intermediate, root)\n"
	"  tse export    export TAR (TR-03151 5): --out FILE.tar [--tx N [--client ID]]\n"
	"                [--tx-first N --tx-last N] [--start-date D --end-date D] [--client ID]\n"
	"                [--max-records N] [--incremental]; no login needed, also after disable\n"
	"  tse restore   restoreFromBackup: --in FILE.tar [--trust ROOT.pem] into an empty data\n"
	"                directory (read-only archive TSS, after every check passed)\n"
	"  tse delete-exported  deleteStoredData: delete exported logs; needs admin\n"
	"  tse serials   exportSerialNumbers (TR-03151 App. D, hex or DER to --out FILE)\n"
	"  tse cert      getLogMessageCertificate: the chain as PEM [--format tar] [--out FILE]\n"
	"  verify-export FILE.tar [--json] [--trust ROOT.pem] [--threads N]\n"
	"                check any vendor's export TAR (exit 0 ok, 1 failed, 2 not a TAR)\n"
	"\n"
	"  serve [--config FILE]   the TSE as an HTTPS REST service\n"
	"  tenant add|list|rotate-secret   API credentials of the service\n"
	"  verify FILE [DATAFILE] [--report OUT.xml]   verify PDF and CMS signatures (verifyBatch)\n"
	"  extend-report -r REPORT.xml   add algorithm suitability to a report\n"
	"  store add CERT          add a certificate to the qualified certificate store\n"
	"  sign file|batch FILE|DIR...   batch signing (PAdES for PDF, CAdES .p7s otherwise)\n"
	"  sign route run NAME --config FILE   run a directory route\n"
	"  sign job status|abort ID|NUMBER     a signing job\n"
	"  sign job recover --out DIR   clean up after jobs whose process ended\n"
	"  sign audit verify [--head SEQ:HASH]   check the signing audit trail\n"
	"\n"
	"(siegel verify, serve, sign ... without arguments or with --help print their own options)\n"
	"\n"
	"common options:\n"
	"  --data DIR        data directory (default ./data; env SIEGEL_DATA)\n"
	"  --tss ID          TSS id (default \"default\")\n"
	"  --json            machine-readable output\n"
	"  --ntp HOST[:PORT] time server for updateTime, repeatable (default ptbtime1/2/3.ptb.de)\n"
	"  --max-host-skew S refuse time server answers further than S s from the host clock\n"
	"                    (default 3600; -1 disables)\n"
	"  --p11-module SO   PKCS#11 module (default: SoftHSM2 with the token in DIR/tokens)\n"
	"\n"
	"tse create options:\n"
	"  --alg p256|p384|bp256|bp384      signature key (default p256 = ecdsa-plain-SHA256)\n"
	"  --time-format unixTime|utcTime|generalizedTime   log time format (default unixTime)\n"
	"  --admin-pin P --admin-puk K --time-admin-pin P --time-admin-puk K\n"
	"                    credentials (random ones are made and printed once when absent)\n"
	"\n"
	"exit status: 0 success, 1 the operation failed (error name printed), 2 usage error\n";

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("siegel 0.1.0\n");
		return 0;
	}
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} cmds[] = {
		{ "tse", cmd_tse },
		{ "verify-export", cmd_verify_export },
		{ "serve", cmd_serve },
		{ "tenant", cmd_tenant },
		{ "verify", cmd_verify },
		{ "extend-report", cmd_extend_report },
		{ "store", cmd_store },
		{ "sign", cmd_sign },
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc - 2, argv + 2);
	fprintf(stderr, "siegel: unknown command '%s' (see siegel --help)\n", argv[1]);
	return 2;
}
