/*
 * mfi_int — what the files of core/mfi share and nothing else sees: the
 * names of the parties that act on a failure.  A "who" is one party or
 * several joined with ", or ", and every fix text names each party of its
 * who as the one that acts ("the sender corrects ..."), and no other: the
 * unit tests hold every text to that.
 */
#ifndef SLUICE_CORE_MFI_MFI_INT_H
#define SLUICE_CORE_MFI_MFI_INT_H

#define WHO_SENDER	"sender"
#define WHO_OPERATOR	"operator"
#define WHO_DEST	"partner or destination administrator"
#define WHO_SENDER_OP	WHO_SENDER ", or " WHO_OPERATOR
#define WHO_SENDER_DEST	WHO_SENDER ", or " WHO_DEST
#define WHO_EITHER	WHO_OPERATOR ", or " WHO_DEST

#endif
