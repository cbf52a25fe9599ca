"""Sound beyond one track: sequencing finished tracks into one continuous programme."""
