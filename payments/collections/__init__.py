"""Collections: reminders that learn each customer's timing and respect its contact windows,
promises to pay, the worklist, and one timeline per customer."""
